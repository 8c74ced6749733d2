"""Hypotheses and references of a generation task: reading them and the bad-input rules.

A generation predictions file (JSONL or Parquet) holds one row per sample: ``id``,
``hypothesis`` (a string) and ``references`` (a non-empty list of strings; a single string is
one reference). The rules, the same for a file and for Python lists:

- an empty or whitespace-only hypothesis is kept and scored (zero where the metric says so),
  never skipped;
- a missing hypothesis (null) or a reference list that is empty is an error naming the row;
- text that is not UTF-8 is an error naming the row and the byte offset (in the file for a
  JSONL file, in the cell for Parquet cells and Python ``bytes``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.errors import DataError

COLUMNS = ("id", "hypothesis", "references")
"""Columns of a generation predictions file."""


def _where(row: int, sample_id: Any, where: str) -> str:
    ident = f" (id {sample_id!r})" if sample_id is not None else ""
    return f"{where}: row {row + 1}{ident}"


def _decode(value: Any, row: int, sample_id: Any, where: str, base: int = 0) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"text is not UTF-8 at byte offset {base + exc.start} "
                f"(byte 0x{raw[exc.start]:02x})",
                where=_where(row, sample_id, where),
                fix="re-encode the file as UTF-8",
            ) from None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. a JSON "\udcff" escape
            offset = len(value[: exc.start].encode("utf-8", "surrogatepass"))
            raise DataError(
                f"text is not UTF-8 at byte offset {base + offset} (lone surrogate)",
                where=_where(row, sample_id, where),
                fix="re-encode the file as UTF-8",
            ) from None
    return value


def check_hypothesis(value: Any, row: int, sample_id: Any = None, where: str = "input") -> str:
    """One hypothesis as a string: empty and whitespace-only strings are valid (and scored)."""
    value = _decode(value, row, sample_id, where)
    if not isinstance(value, str):
        raise DataError(
            f"hypothesis is {type(value).__name__}, not text",
            where=_where(row, sample_id, where),
            fix='give a string; an empty output is "" (it is scored, not skipped)',
        )
    return value


def check_references(
    value: Any, row: int, sample_id: Any = None, where: str = "input"
) -> list[str]:
    """One sample's references as a non-empty list of strings (a single string: one reference)."""
    value = _decode(value, row, sample_id, where)
    if isinstance(value, str):
        return [value]
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise DataError(
            f"references is {type(value).__name__}, not a list of texts",
            where=_where(row, sample_id, where),
            fix='give a list of strings, e.g. ["a dog runs", "a dog is running"]',
        )
    if len(value) == 0:
        raise DataError(
            "the reference list is empty",
            where=_where(row, sample_id, where),
            fix="give at least one reference text per sample, or drop the sample",
        )
    refs = [_decode(r, row, sample_id, where) for r in value]
    bad = [type(r).__name__ for r in refs if not isinstance(r, str)]
    if bad:
        raise DataError(
            f"a reference is {bad[0]}, not text",
            where=_where(row, sample_id, where),
            fix="every reference is a string",
        )
    return refs


def check_texts(
    hypotheses: Sequence[Any], references: Sequence[Any], where: str = "input"
) -> tuple[list[str], list[list[str]]]:
    """Hypotheses and reference lists checked by the rules of this module (one per sample)."""
    if len(hypotheses) != len(references):
        raise DataError(
            f"{len(hypotheses)} hypotheses but {len(references)} reference lists",
            where=where,
            fix="one reference list per hypothesis",
        )
    hyps = [check_hypothesis(h, i, where=where) for i, h in enumerate(hypotheses)]
    refs = [check_references(r, i, where=where) for i, r in enumerate(references)]
    return hyps, refs


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows, offset = [], 0
    for number, line in enumerate(path.read_bytes().splitlines(keepends=True)):
        text = _decode(line, number, None, str(path), base=offset)
        offset += len(line)
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"not JSON: {exc.msg}",
                where=_where(number, None, str(path)),
                fix="one object a line",
            ) from None
        rows.append({"_row": number, **record} if isinstance(record, dict) else {"_row": number})
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns: dict[str, list[Any]] = {}
    for name in table.column_names:  # text read as bytes, so bad UTF-8 is found by us, with a row
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = column.cast(pa.binary())
        elif pa.types.is_list(column.type) and pa.types.is_string(column.type.value_type):
            column = column.cast(pa.list_(pa.binary()))
        columns[name] = column.to_pylist()
    return [{"_row": i, **{k: v[i] for k, v in columns.items()}} for i in range(table.num_rows)]


def read_generation_file(path: str | Path) -> pd.DataFrame:
    """A generation predictions file as a checked table with ``id``, ``hypothesis``,
    ``references`` (other columns kept), ``perturbation`` and ``severity`` added."""
    path = Path(path)
    readers = {".jsonl": _read_jsonl, ".parquet": _read_parquet}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"unsupported file type {path.suffix!r} for generation",
            where=str(path),
            fix="give a .jsonl or .parquet file with id, hypothesis, references",
        )
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path")
    records = reader(path)
    if not records:
        raise DataError("no rows", where=str(path), fix="one row per sample")
    for record in records:
        missing = [c for c in COLUMNS if c not in record]
        if missing:
            raise DataError(
                f"missing field(s) {missing}",
                where=_where(record["_row"], record.get("id"), str(path)),
                fix="every row has id, hypothesis and references",
            )
        row = record.pop("_row")
        ident = _decode(record["id"], row, None, str(path))
        record["id"] = str(ident)
        record["hypothesis"] = check_hypothesis(record["hypothesis"], row, ident, str(path))
        record["references"] = check_references(record["references"], row, ident, str(path))
    table = pd.DataFrame.from_records(records)
    if table["id"].duplicated().any():
        duplicate = table.loc[table["id"].duplicated(), "id"].iloc[0]
        raise DataError(f"duplicate id {duplicate!r}", where=str(path), fix="ids must be unique")
    table["perturbation"] = table.get("perturbation", "none")
    table["severity"] = table.get("severity", 0)
    return table
