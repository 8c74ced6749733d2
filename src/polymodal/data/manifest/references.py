"""Reference texts of a ``generation`` manifest: reading a row's references, merging groups.

A generation manifest's label column holds each row's reference texts: a string (one
reference), a list of strings (JSONL, Parquet), or, in a CSV cell, a JSON list of strings
(``["a dog runs", "a dog"]``). With ``group_column``, rows sharing its value become *one*
sample whose references are the rows' references in row order (Flickr8k: five caption rows of
one photo are one sample with five references); the sample takes the first row's id and inputs,
and every row of a group must name the same items (the same photo), else the rows are bad.

Errors name the row (bad rows, see :mod:`polymodal.data.manifest`): an empty reference list
(null cell, ``[]``), a reference that is not a string, a whitespace-only reference, and text
that is not UTF-8 (bytes in a Parquet cell), with the byte offset in the cell.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from polymodal.data.manifest.errors import RowError


def _text(value: Any, column: str, position: int) -> str:
    """One reference as a string; bytes are decoded as UTF-8 (an error gives the offset)."""
    where = f"reference {position + 1}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RowError(
                column,
                f"{where} is not UTF-8 at byte offset {exc.start} (byte 0x{raw[exc.start]:02x})",
            ) from None
    if not isinstance(value, str):
        raise RowError(column, f"{where} is a {type(value).__name__}, not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (a JSON "\udcff" escape)
        offset = len(value[: exc.start].encode("utf-8", "surrogatepass"))
        raise RowError(column, f"{where} is not UTF-8 at byte offset {offset}") from None
    if not value.strip():
        raise RowError(column, f"{where} is empty (only whitespace)")
    return value


def _json_list(cell: str) -> list[Any] | None:
    """A CSV cell holding a JSON list of strings, else None (the cell is one reference)."""
    if not cell.lstrip().startswith("["):
        return None
    try:
        value = json.loads(cell)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def reference_texts(cell: Any, column: str) -> tuple[str, ...]:
    """A row's references from its label cell (see the module docs).

    Raises:
        RowError: an empty list, a reference that is not a non-empty UTF-8 string.
    """
    if cell is None:
        raise RowError(column, "the reference list is empty (no reference text)")
    if isinstance(cell, str):
        values: Sequence[Any] = _json_list(cell) or [cell]
    elif isinstance(cell, (bytes, bytearray, memoryview)):
        values = [cell]
    elif isinstance(cell, (list, tuple, np.ndarray)):
        values = list(cell)
    else:
        raise RowError(column, f"expected a text or a list of texts, got {cell!r}")
    if not values:
        raise RowError(column, "the reference list is empty (no reference text)")
    return tuple(_text(v, column, i) for i, v in enumerate(values))
