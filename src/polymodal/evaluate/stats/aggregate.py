"""Aggregation of one metric over training seeds: mean, sample standard deviation, t-interval."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from scipy.special import stdtrit

from polymodal.evaluate.stats._checks import StatsError, check_level


@dataclass(frozen=True)
class SeedAggregate:
    """A metric over seeds.

    Attributes:
        mean: mean over seeds.
        std: sample standard deviation (ddof = 1); NaN for a single seed (undefined).
        n: number of seeds.
        per_seed: the values, keyed by seed (by position for a list input), in input order.
        ci: Student-t interval of the mean, ``mean -+ t_{(1+level)/2, n-1} std / sqrt(n)``;
            ``(nan, nan)`` for a single seed.
        level: confidence level of ``ci``.
    """

    mean: float
    std: float
    n: int
    per_seed: dict[int, float]
    ci: tuple[float, float]
    level: float


@overload
def aggregate_seeds(values: Mapping[int, float], *, level: float = ...) -> SeedAggregate: ...
@overload
def aggregate_seeds(values: Sequence[float], *, level: float = ...) -> SeedAggregate: ...
def aggregate_seeds(
    values: Mapping[int, float] | Sequence[float], *, level: float = 0.95
) -> SeedAggregate:
    """Mean, standard deviation (ddof = 1) and t-interval of a metric over seeds.

    The t-interval treats the seeds as independent draws of the training randomness; it says how
    well the mean over seeds is known, not how one run varies on new test data (for that, use a
    bootstrap interval of one run).

    Args:
        values: ``{seed: value}`` or a list of values (then keyed by position).
        level: confidence level of the interval.

    Raises:
        StatsError: no values, or a value that is not finite (named by its seed).
    """
    level = check_level(level)
    per_seed = dict(values) if isinstance(values, Mapping) else dict(enumerate(values))
    if not per_seed:
        raise StatsError("no values to aggregate over seeds", fix="pass at least one run")
    for seed, value in per_seed.items():
        if not math.isfinite(float(value)):
            raise StatsError(
                f"the value of seed {seed} is {value}",
                where=f"seed {seed}",
                fix="rerun that seed or leave it out",
            )
    per_seed = {int(seed): float(value) for seed, value in per_seed.items()}
    array = np.fromiter(per_seed.values(), dtype=np.float64, count=len(per_seed))
    mean = float(array.mean())
    if array.size == 1:
        return SeedAggregate(mean, math.nan, 1, per_seed, (math.nan, math.nan), level)
    std = float(array.std(ddof=1))
    half = float(stdtrit(array.size - 1, (1.0 + level) / 2.0)) * std / math.sqrt(array.size)
    return SeedAggregate(mean, std, int(array.size), per_seed, (mean - half, mean + half), level)
