"""Multiple-comparison correction: Holm-Bonferroni adjusted p-values.

Reference: S. Holm, "A simple sequentially rejective multiple test procedure", Scandinavian
Journal of Statistics 6(2), 1979.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, overload

import numpy as np

from polymodal.evaluate.stats._checks import StatsError

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class HolmResult(Generic[K]):
    """Holm-adjusted p-values.

    Attributes:
        adjusted: adjusted p-value per comparison, keyed like the input (a list input is keyed by
            position), in input order.
        reject: ``adjusted <= alpha`` per comparison (family-wise error rate <= alpha).
        alpha: the family-wise level.
    """

    adjusted: dict[K, float]
    reject: dict[K, bool]
    alpha: float


@overload
def holm(p_values: Mapping[K, float], alpha: float = ...) -> HolmResult[K]: ...
@overload
def holm(p_values: Sequence[float], alpha: float = ...) -> HolmResult[int]: ...
def holm(
    p_values: Mapping[K, float] | Sequence[float], alpha: float = 0.05
) -> HolmResult[K] | HolmResult[int]:
    """Holm-Bonferroni step-down adjustment of m p-values.

    With the p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted values are
    ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``: monotone in the order of the raw
    p-values and never below them. Rejecting where ``p~ <= alpha`` controls the family-wise
    error rate at ``alpha`` under any dependence.

    Args:
        p_values: ``{name: p}`` or a list of p-values (keyed by position in the result).
        alpha: family-wise level of the reject flags.
    """
    if not 0.0 < float(alpha) < 1.0:
        raise StatsError(f"alpha must lie strictly between 0 and 1, got {alpha!r}", fix="e.g. 0.05")
    named = dict(p_values) if isinstance(p_values, Mapping) else dict(enumerate(p_values))
    for key, p in named.items():
        if not (math.isfinite(float(p)) and 0.0 <= float(p) <= 1.0):
            raise StatsError(f"p-value {p!r} of {key!r} is not in [0, 1]", fix="check that test")
    keys = list(named)
    raw = np.array([float(named[k]) for k in keys], dtype=np.float64)  # [m]
    order = np.argsort(raw, kind="stable")  # ascending, ties in input order
    factors = raw.size - np.arange(raw.size)  # m, m-1, ..., 1
    stepped = np.maximum.accumulate(np.minimum(1.0, factors * raw[order]))  # sorted order
    adjusted = np.empty_like(raw)
    adjusted[order] = stepped
    return HolmResult(
        adjusted={k: float(v) for k, v in zip(keys, adjusted, strict=True)},
        reject={k: bool(v <= alpha) for k, v in zip(keys, adjusted, strict=True)},
        alpha=float(alpha),
    )
