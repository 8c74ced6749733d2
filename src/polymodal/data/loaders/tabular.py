"""Tabular loader: numeric cells of a row -> a float32 feature vector ``[F]``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from polymodal.errors import DataError

FLOAT32_MAX = torch.finfo(torch.float32).max  # features and targets are float32 tensors


def parse_number(value: object, column: str) -> float:
    """One cell as a finite float: ints, floats, bools (0/1) and numeric strings (``" 2.5 "``).

    Raises:
        DataError: naming ``column``, when the cell is empty, not numeric, NaN, infinite, or
            beyond the float32 range (``|x| > 3.4e38``, which a float32 tensor would hold as
            infinity).
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
        try:
            number = float(value)
        except OverflowError:  # an integer beyond even float64's range
            raise _beyond_float32(value, column) from None
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
    if abs(number) > FLOAT32_MAX:
        raise _beyond_float32(value, column)
    return number


def _beyond_float32(value: object, column: str) -> DataError:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return DataError(
        f"column {column!r}: value {shown} is beyond the float32 range (|x| <= 3.4e38)",
        fix=f"rescale column {column!r} (other units, or a log scale)",
    )


def load_tabular(row: Mapping[str, object], columns: Sequence[str]) -> Tensor:
    """The cells ``row[c]`` for ``c`` in ``columns`` as float32 ``[F]`` (F = ``len(columns)``).

    Raises:
        DataError: naming the first column that is absent, empty, non-numeric, NaN, infinite
            or beyond the float32 range.
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
