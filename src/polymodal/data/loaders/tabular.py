"""Tabular loader: numeric cells of a row -> a float32 feature vector ``[F]``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from polymodal.errors import DataError


def parse_number(value: object, column: str) -> float:
    """One cell as a finite float: ints, floats, bools (0/1) and numeric strings (``" 2.5 "``).

    Raises:
        DataError: naming ``column``, when the cell is empty, not numeric, NaN or infinite.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise DataError(
                f"column {column!r}: expected a number, got the text {value!r}",
                fix=f"write a number in column {column!r} (e.g. 0.5)",
            ) from None
    elif isinstance(value, numbers.Real):  # int, float, bool and numpy scalars
        number = float(value)
    else:
        raise DataError(
            f"column {column!r}: expected a number, got {type(value).__name__} {value!r}",
            fix=f"write a number in column {column!r} (e.g. 0.5)",
        )
    if not math.isfinite(number):
        raise DataError(
            f"column {column!r}: value {value!r} is not finite (NaN or infinite)",
            fix=f"replace it with a finite number, or leave every cell of {column!r} "
            "empty in this row to mark the modality as missing",
        )
    return number


def load_tabular(row: Mapping[str, object], columns: Sequence[str]) -> Tensor:
    """The cells ``row[c]`` for ``c`` in ``columns`` as float32 ``[F]`` (F = ``len(columns)``).

    Raises:
        DataError: naming the first column that is absent, empty, non-numeric, NaN or infinite.
    """
    values = []
    for column in columns:
        if column not in row or row[column] is None:
            raise DataError(
                f"column {column!r} is empty",
                fix=f"write a number in column {column!r}",
            )
        values.append(parse_number(row[column], column))
    return torch.tensor(values, dtype=torch.float32)  # [F]
