"""Argument checks and the error class of the statistics package."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from polymodal.errors import PolymodalError


class StatsError(PolymodalError, ValueError):
    """A statistic cannot be computed from these arguments or values."""


def check_count(name: str, value: int, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; StatsError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise StatsError(
            f"{name} must be an integer >= {minimum}, got {value!r}",
            fix=f"pass {name}={max(minimum, 1)} or more",
        )
    return int(value)


def check_level(level: float) -> float:
    """A confidence level strictly between 0 and 1."""
    if not 0.0 < float(level) < 1.0:
        raise StatsError(
            f"confidence level must lie strictly between 0 and 1, got {level!r}",
            fix="pass e.g. level=0.95 (not 95)",
        )
    return float(level)


def check_finite_scalar(value: Any, what: str) -> float:
    """``value`` as a finite float; StatsError naming ``what`` otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise StatsError(
            f"{what} returned {type(value).__name__}, not a single number",
            fix="use a scalar metric (e.g. f1_macro rather than a per-class metric)",
        ) from None
    if not math.isfinite(out):
        raise StatsError(
            f"{what} is {out}, not a finite number",
            fix="check the metric's inputs; a statistic needs a finite metric value",
        )
    return out


def check_metric(metric: Any, protocol: type, method: str) -> None:
    """StatsError unless ``metric`` implements ``protocol`` (named by its missing method)."""
    if not isinstance(metric, protocol):
        raise StatsError(
            f"{type(metric).__name__} does not implement {protocol.__name__}",
            fix=f"give the metric higher_is_better, compute and {method} "
            "(see polymodal.evaluate.stats.protocol)",
        )


def as_row_values(values: Any, rows: int, metric: Any, method: str) -> np.ndarray:
    """A metric's per-row output as float64 ``[rows]``, checked for shape and NaN."""
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (rows,):
        raise StatsError(
            f"{type(metric).__name__}.{method} returned shape {out.shape} for {rows} rows",
            fix=f"return one value per row: an array of shape ({rows},)",
        )
    bad = int(np.count_nonzero(~np.isfinite(out)))
    if bad:
        raise StatsError(
            f"{type(metric).__name__}.{method} gave {bad} non-finite values out of {rows} rows "
            "(e.g. a resample with a single class)",
            fix="use more samples, or a metric defined on every resample",
        )
    return out
