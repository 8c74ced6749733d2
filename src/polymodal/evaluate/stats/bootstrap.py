"""Bootstrap confidence intervals of a metric: percentile and BCa, vectorised over resamples.

References:
    B. Efron and R. J. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall, 1993:
    percentile interval (ch. 13), BCa interval (ch. 14, eqs. 14.9-14.15), jackknife (ch. 11).
    T. J. DiCiccio and B. Efron, "Bootstrap confidence intervals", Statistical Science 11(3), 1996.

Two ways to draw resamples, both without a Python loop over resamples:

- counts (the default for a :class:`~polymodal.evaluate.stats.protocol.CategoricalMetric` with
  few categories, ``resampling="auto"``): each resample is a multinomial vector of K category
  counts, given to ``metric.from_counts``; exact in distribution and O(K) per resample (see
  :mod:`polymodal.evaluate.stats.categorical` for why), with an exact count-weighted jackknife
  for BCa.
- indices (every other metric, or ``resampling="indices"``): each resample is a row of N sample
  indices, given to :meth:`ResamplableMetric.compute_resampled` once per batch of rows.
  Quantiles use linear interpolation (``numpy.quantile``'s default), z0 counts ties as half, and
  the exact jackknife is the leave-one-out one, all as in ``scipy.stats.bootstrap``: for the
  same seed and statistic the intervals agree with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import ndtr, ndtri

from polymodal.evaluate.stats._checks import (
    StatsError,
    as_row_values,
    check_count,
    check_finite_scalar,
    check_level,
    check_metric,
)
from polymodal.evaluate.stats.categorical import (
    CountStatistic,
    Resampling,
    count_distribution,
    count_jackknife,
    count_statistic,
)
from polymodal.evaluate.stats.protocol import ResamplableMetric
from polymodal.evaluate.stats.resample import bootstrap_indices, jackknife_indices

Method = Literal["percentile", "bca"]
Drawn = Literal["counts", "indices"]
METHODS: tuple[str, ...] = ("percentile", "bca")

DEFAULT_JACKKNIFE_GROUPS = 1000
"""Jackknife groups of BCa's acceleration by default: exact leave-one-out up to 1000 samples.

Above that, a delete-a-group jackknife with 1000 random groups costs about as much as 1000
bootstrap resamples, instead of N metric evaluations of N - 1 samples each. Its acceleration
has a grouping error of roughly ``0.5 / G`` (for a smooth statistic, e.g. 0.0005 at G = 1000),
small next to the Monte-Carlo error of the interval itself.
"""


@dataclass(frozen=True)
class CI:
    """A bootstrap confidence interval.

    Attributes:
        estimate: the metric on all samples.
        low, high: interval bounds (``low <= high``).
        level: confidence level, e.g. 0.95.
        method: "percentile" or "bca".
        resamples: number of bootstrap resamples R.
        resampling: how resamples were drawn: "counts" (multinomial category counts) or
            "indices" (rows of sample indices).
    """

    estimate: float
    low: float
    high: float
    level: float
    method: Method
    resamples: int
    resampling: Drawn = "indices"


@dataclass(frozen=True)
class Resampled:
    """A bootstrap distribution of a statistic and the way to its BCa acceleration.

    Attributes:
        distribution: float64 ``[R]`` resampled values.
        acceleration: computes the jackknife acceleration (only called when BCa needs it).
        resampling: "counts" or "indices".
    """

    distribution: np.ndarray
    acceleration: Callable[[], float]
    resampling: Drawn


def index_distribution(
    metric: ResamplableMetric,
    inputs: Any,
    n: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    batch: int | None = None,
) -> np.ndarray:
    """The metric on ``resamples`` index rows of the ``n`` samples of ``inputs``.

    Index rows come from :func:`~polymodal.evaluate.stats.resample.bootstrap_indices` (seeded,
    independent of ``batch``); ``metric.compute_resampled`` is called once per batch of rows.

    Returns:
        float64 ``[resamples]``.
    """
    check_metric(metric, ResamplableMetric, "compute_resampled")
    parts = [
        as_row_values(
            metric.compute_resampled(inputs, rows), rows.shape[0], metric, "compute_resampled"
        )
        for rows in bootstrap_indices(n, resamples, seed=seed, batch=batch)
    ]
    return np.concatenate(parts)


def bootstrap_distribution(
    metric: ResamplableMetric,
    inputs: Any,
    n: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    batch: int | None = None,
    resampling: Resampling = "auto",
) -> np.ndarray:
    """The metric on ``resamples`` bootstrap resamples of the ``n`` samples of ``inputs``.

    Args:
        resampling: "auto" draws category counts for a categorical metric with few categories
            (see :func:`~polymodal.evaluate.stats.categorical.count_statistic`) and index rows
            otherwise; "counts" or "indices" force one way. Both are exact bootstrap
            distributions, but from different random draws.
        batch: resamples per metric call; bounds memory, does not change the result.

    Returns:
        float64 ``[resamples]``.
    """
    check_metric(metric, ResamplableMetric, "compute_resampled")
    statistic = count_statistic(metric, inputs, n, resampling)
    if statistic is not None:
        return count_distribution(statistic, resamples, seed=seed, batch=batch)
    return index_distribution(metric, inputs, n, resamples=resamples, seed=seed, batch=batch)


def jackknife_values(
    metric: ResamplableMetric,
    inputs: Any,
    n: int,
    *,
    groups: int | None = None,
    seed: int = 0,
    batch: int | None = None,
) -> np.ndarray:
    """The metric with each group of samples left out in turn (delete-a-group jackknife).

    Args:
        groups: number of groups G (default ``min(n, DEFAULT_JACKKNIFE_GROUPS)``); G >= n is
            the exact leave-one-out jackknife (groups above n are capped at n).

    Returns:
        float64 ``[G]``, in the group order of
        :func:`~polymodal.evaluate.stats.resample.jackknife_groups`.
    """
    check_metric(metric, ResamplableMetric, "compute_resampled")
    n = check_count("n", n, minimum=2)
    groups = min(n, DEFAULT_JACKKNIFE_GROUPS) if groups is None else check_count("groups", groups)
    parts = [
        as_row_values(
            metric.compute_resampled(inputs, rows), rows.shape[0], metric, "compute_resampled"
        )
        for rows in jackknife_indices(n, min(groups, n), seed=seed, batch=batch)
    ]
    return np.concatenate(parts)


def acceleration_from_jackknife(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """BCa acceleration ``a = sum(d^3) / (6 * sum(d^2)^1.5)`` with ``d = mean(values) - values``.

    (Efron & Tibshirani 1993, eq. 14.15.) ``values`` are the G jackknife values. The formula is
    scale-free, so it applies unchanged to a delete-a-group jackknife: for G random groups of
    m = N/G samples, ``d_g`` is proportional to the sum of the m samples' influence values, and
    the sums of cubes and squares over groups estimate the same N-sample sums as over single
    samples, so ``a`` estimates the same quantity; with G = N it is the exact jackknife.
    ``weights`` (default all 1) counts how often each value occurs, e.g. the samples of each
    category for the count jackknife of
    :func:`~polymodal.evaluate.stats.categorical.count_jackknife`: mean and sums are then over
    the ``sum(weights)`` values. Returns 0 when every value is the same (no skewness
    information).
    """
    values = np.asarray(values, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    d = np.sum(w * values) / np.sum(w) - values  # [G]
    squares = float(np.sum(w * d**2))
    if squares == 0.0:
        return 0.0
    return float(np.sum(w * d**3) / (6.0 * squares**1.5))


def jackknife_acceleration(
    metric: ResamplableMetric,
    inputs: Any,
    n: int,
    *,
    groups: int | None = None,
    seed: int = 0,
    batch: int | None = None,
) -> float:
    """BCa acceleration of ``metric`` from a (delete-a-group) jackknife; see
    :func:`jackknife_values` for ``groups`` and :func:`acceleration_from_jackknife` for the
    formula."""
    values = jackknife_values(metric, inputs, n, groups=groups, seed=seed, batch=batch)
    return acceleration_from_jackknife(values)


def percentile_bounds(distribution: np.ndarray, level: float) -> tuple[float, float]:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear interpolation)."""
    alpha = (1.0 - check_level(level)) / 2.0
    low, high = np.quantile(distribution, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bca_bounds(
    distribution: np.ndarray, estimate: float, acceleration: float, level: float
) -> tuple[float, float]:
    """BCa bounds: quantiles of the bootstrap distribution at bias- and skew-corrected levels.

    ``z0 = Phi^-1(share of resampled values below the estimate, ties counted half)`` and the
    bounds are the quantiles at ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for
    ``z = Phi^-1((1 -+ level) / 2)`` (Efron & Tibshirani 1993, eq. 14.10).

    Raises:
        StatsError: if the estimate lies outside the bootstrap distribution (z0 infinite) or the
            acceleration is so large that the corrected levels are undefined.
    """
    alpha = (1.0 - check_level(level)) / 2.0
    below = np.count_nonzero(distribution < estimate) + np.count_nonzero(distribution <= estimate)
    share = below / (2.0 * distribution.size)
    if share in (0.0, 1.0):
        raise StatsError(
            f"BCa is undefined: the estimate {estimate} lies outside all "
            f"{distribution.size} bootstrap values",
            fix="use method='percentile' (the statistic is likely not smooth, e.g. a maximum)",
        )
    z0 = float(ndtri(share))
    levels = []
    for z in (float(ndtri(alpha)), float(ndtri(1.0 - alpha))):
        shifted = z0 + z
        denominator = 1.0 - acceleration * shifted
        if denominator <= 0.0:
            raise StatsError(
                f"BCa is undefined: acceleration {acceleration:.3g} is too large for this level",
                fix="use method='percentile', or more samples",
            )
        levels.append(float(ndtr(z0 + shifted / denominator)))
    low, high = np.quantile(distribution, levels)
    return float(low), float(high)


def check_method(method: str) -> Method:
    """``method`` if it is a known interval method; StatsError otherwise."""
    if method not in METHODS:
        raise StatsError(f"unknown interval method {method!r}", fix=f"use one of {METHODS}")
    return method  # type: ignore[return-value]


def interval_from_distribution(
    distribution: np.ndarray,
    estimate: float,
    *,
    level: float,
    method: Method,
    acceleration: Callable[[], float],
) -> tuple[float, float]:
    """Bounds of a ``method`` interval from a bootstrap distribution.

    A degenerate distribution (every resampled value equal) gives ``(value, value)`` for both
    methods, without NaN. ``acceleration`` is called only when BCa needs it (it runs the
    jackknife).
    """
    check_method(method)
    check_level(level)
    first = float(distribution[0])
    if np.all(distribution == first):
        return first, first
    if method == "percentile":
        return percentile_bounds(distribution, level)
    return bca_bounds(distribution, estimate, acceleration(), level)


def resample_statistic(
    metric: ResamplableMetric,
    inputs: Any,
    n: int,
    statistic: CountStatistic | None,
    *,
    resamples: int,
    seed: int,
    batch: int | None,
    jackknife_groups: int | None,
) -> Resampled:
    """The bootstrap distribution of ``metric`` from count rows of ``statistic`` (its count form,
    exact count jackknife) or, when it is None, from index rows (delete-a-group jackknife)."""
    if statistic is not None:
        return Resampled(
            count_distribution(statistic, resamples, seed=seed, batch=batch),
            lambda: acceleration_from_jackknife(*count_jackknife(statistic, batch=batch)),
            "counts",
        )
    return Resampled(
        index_distribution(metric, inputs, n, resamples=resamples, seed=seed, batch=batch),
        lambda: jackknife_acceleration(
            metric, inputs, n, groups=jackknife_groups, seed=seed, batch=batch
        ),
        "indices",
    )


def bootstrap_ci(
    metric: ResamplableMetric,
    inputs: Any,
    n: int,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    method: Method = "percentile",
    seed: int = 0,
    batch: int | None = None,
    jackknife_groups: int | None = None,
    resampling: Resampling = "auto",
) -> CI:
    """Bootstrap confidence interval of ``metric`` over the ``n`` samples of ``inputs``.

    Args:
        metric: a :class:`ResamplableMetric`; ``inputs`` is passed to it untouched.
        n: number of samples N in ``inputs`` (rows are drawn from ``[0, N)``).
        resamples: bootstrap resamples R.
        level: confidence level.
        method: "percentile" (quantiles of the bootstrap distribution) or "bca" (bias-corrected
            and accelerated, Efron 1987; acceleration from a jackknife).
        seed: seed of the resamples; same seed (and same resampling) => bit-identical interval.
        batch: resamples per metric call (default: about 4 Mi indices or counts per call);
            bounds memory, does not change the result.
        jackknife_groups: G of BCa's delete-a-group jackknife on index rows (default
            ``min(N, DEFAULT_JACKKNIFE_GROUPS)``; G = N is the exact jackknife). Count
            resampling always uses the exact leave-one-out jackknife (it costs K evaluations).
        resampling: "auto" (default) draws multinomial category counts when the metric is a
            :class:`~polymodal.evaluate.stats.protocol.CategoricalMetric` with
            ``K * COUNTS_BELOW <= N`` categories, index rows otherwise; "counts" or "indices"
            force one way. Both give the exact bootstrap distribution, from different draws.

    Returns:
        :class:`CI` (e.g. ``bootstrap_ci(accuracy, inputs, len(inputs), method="bca")``). When
        every resampled value is equal, ``low == high`` is that value.
    """
    check_metric(metric, ResamplableMetric, "compute_resampled")
    level = check_level(level)
    method = check_method(method)
    estimate = check_finite_scalar(metric.compute(inputs), f"{type(metric).__name__}.compute")
    statistic = count_statistic(metric, inputs, n, resampling)
    options = {"resamples": resamples, "seed": seed, "batch": batch}
    resampled = resample_statistic(
        metric, inputs, n, statistic, **options, jackknife_groups=jackknife_groups
    )
    bounds = {"level": level, "method": method, "acceleration": resampled.acceleration}
    low, high = interval_from_distribution(resampled.distribution, estimate, **bounds)
    size = int(resampled.distribution.size)
    return CI(estimate, low, high, level, method, size, resampled.resampling)
