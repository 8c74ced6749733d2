"""Paired comparisons of two runs on the same samples: paired bootstrap, approximate
randomisation, McNemar.

"Paired" means ``inputs_a`` and ``inputs_b`` hold the two runs' outputs on the same N samples in
the same order (same ids, aligned), so every resample or swap acts on both runs at once.

References:
    P. Koehn, "Statistical significance tests for machine translation evaluation", EMNLP 2004
    (paired bootstrap). E. W. Noreen, *Computer-Intensive Methods for Testing Hypotheses*, Wiley,
    1989, and S. Riezler and J. T. Maxwell, "On some pitfalls in automatic evaluation and
    significance testing for MT", 2005 (approximate randomisation). Q. McNemar, "Note on the
    sampling error of the difference between correlated proportions or percentages",
    Psychometrika 12, 1947. A. C. Davison and D. V. Hinkley, *Bootstrap Methods and their
    Application*, 1997, §4.4 (bootstrap p-values with the +1 correction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import bdtr, chdtrc

from polymodal.evaluate.stats._checks import (
    StatsError,
    as_row_values,
    check_finite_scalar,
    check_level,
    check_metric,
)
from polymodal.evaluate.stats.bootstrap import (
    Drawn,
    Method,
    check_method,
    interval_from_distribution,
    resample_statistic,
)
from polymodal.evaluate.stats.categorical import Resampling, paired_count_statistic
from polymodal.evaluate.stats.protocol import MixableMetric, ResamplableMetric
from polymodal.evaluate.stats.resample import swap_masks

McNemarMethod = Literal["exact", "chi2"]

MCNEMAR_EXACT_BELOW = 25
"""McNemar uses the exact binomial test when there are fewer discordant pairs than this."""


@dataclass(frozen=True)
class PairedBootstrap:
    """Paired bootstrap of ``metric(A) - metric(B)``.

    Attributes:
        difference: ``metric(inputs_a) - metric(inputs_b)`` on all samples.
        ci_low, ci_high: interval of the difference at ``level``.
        p_value: two-sided bootstrap p-value of "no difference" (see :func:`paired_bootstrap`).
        level, method, resamples: as passed.
        resampling: "counts" (joint category counts) or "indices" (shared index rows).
    """

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    level: float
    method: Method
    resamples: int
    resampling: Drawn = "indices"


@dataclass(frozen=True)
class PermutationTest:
    """Approximate randomisation test of ``metric(A) - metric(B)``.

    Attributes:
        difference: observed ``metric(inputs_a) - metric(inputs_b)``.
        p_value: ``(count + 1) / (rounds + 1)``, count = rounds with ``|difference|`` at least the
            observed one.
        rounds: number of random swap patterns.
    """

    difference: float
    p_value: float
    rounds: int


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of equal accuracy of two classifiers on the same samples.

    Attributes:
        statistic: ``min(b, c)`` for the exact test; ``max(|b - c| - 1, 0)^2 / (b + c)`` for
            the chi-square test (continuity-corrected; 0 when ``b + c == 0``).
        p_value: two-sided p-value.
        b: samples A got right and B got wrong.
        c: samples A got wrong and B got right.
        method: "exact" (binomial) or "chi2".
    """

    statistic: float
    p_value: float
    b: int
    c: int
    method: McNemarMethod


class _Difference:
    """``metric(A) - metric(B)`` as one metric of the pair ``(inputs_a, inputs_b)``.

    Resampling the pair with an index row resamples both runs with the *same* row, which is what
    makes the bootstrap paired.
    """

    def __init__(self, metric: ResamplableMetric) -> None:
        self.metric = metric
        self.higher_is_better = metric.higher_is_better

    def compute(self, inputs: tuple[Any, Any]) -> float:
        inputs_a, inputs_b = inputs
        name = f"{type(self.metric).__name__}.compute"
        return check_finite_scalar(self.metric.compute(inputs_a), name) - check_finite_scalar(
            self.metric.compute(inputs_b), name
        )

    def compute_resampled(self, inputs: tuple[Any, Any], indices: np.ndarray) -> np.ndarray:
        rows = indices.shape[0]
        values = [
            as_row_values(
                self.metric.compute_resampled(run, indices), rows, self.metric, "compute_resampled"
            )
            for run in inputs
        ]
        return values[0] - values[1]  # [R]


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of "difference = 0" from a bootstrap distribution of differences.

    ``p = min(1, 2 (min(#{d <= 0}, #{d >= 0}) + 1) / (R + 1))``: twice the smaller tail beyond 0,
    with the +1 correction so a finite R never gives p = 0. It inverts the percentile interval:
    the 1 - alpha percentile interval excludes 0 about when p < alpha. A distribution that is all
    zeros (a run against itself) gives p = 1.
    """
    at_most = int(np.count_nonzero(differences <= 0.0))
    at_least = int(np.count_nonzero(differences >= 0.0))
    return min(1.0, 2.0 * (min(at_most, at_least) + 1) / (differences.size + 1))


def paired_bootstrap(
    metric: ResamplableMetric,
    inputs_a: Any,
    inputs_b: Any,
    n: int,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    method: Method = "percentile",
    seed: int = 0,
    batch: int | None = None,
    jackknife_groups: int | None = None,
    resampling: Resampling = "auto",
) -> PairedBootstrap:
    """Paired bootstrap of the metric difference between two runs on the same ``n`` samples.

    Both runs are resampled with the SAME resamples (Koehn 2004): the same index rows ``[R, N]``,
    or, for a categorical metric (``resampling`` as in
    :func:`~polymodal.evaluate.stats.bootstrap.bootstrap_ci`), the same multinomial counts of
    the joint categories (category under A, category under B) of
    :func:`~polymodal.evaluate.stats.categorical.paired_count_statistic`. So the interval
    reflects only the variation of the difference; a run against itself gives exactly [0, 0]
    and p = 1. The interval is a ``bootstrap_ci`` interval of the statistic
    ``metric(A) - metric(B)``; the p-value is :func:`bootstrap_p_value` of the resampled
    differences. Arguments are those of ``bootstrap_ci``.
    """
    check_metric(metric, ResamplableMetric, "compute_resampled")
    level = check_level(level)
    method = check_method(method)
    difference_metric = _Difference(metric)
    pair = (inputs_a, inputs_b)
    estimate = difference_metric.compute(pair)
    resampled = resample_statistic(
        difference_metric,
        pair,
        n,
        paired_count_statistic(metric, inputs_a, inputs_b, n, resampling),
        resamples=resamples,
        seed=seed,
        batch=batch,
        jackknife_groups=jackknife_groups,
    )
    differences = resampled.distribution
    low, high = interval_from_distribution(
        differences,
        estimate,
        level=level,
        method=method,
        acceleration=resampled.acceleration,
    )
    return PairedBootstrap(
        estimate,
        low,
        high,
        bootstrap_p_value(differences),
        level,
        method,
        int(differences.size),
        resampled.resampling,
    )


def permutation_test_paired(
    metric: MixableMetric,
    inputs_a: Any,
    inputs_b: Any,
    n: int,
    *,
    rounds: int = 10_000,
    seed: int = 0,
    batch: int | None = None,
) -> PermutationTest:
    """Approximate randomisation test of "the two runs are exchangeable on every sample".

    Each round swaps the two runs' outputs on each sample with probability 1/2 (a fair coin per
    sample, :func:`~polymodal.evaluate.stats.resample.swap_masks`) and recomputes the difference
    through ``metric.compute_mixed``: pseudo-run A takes B's output where the coin says swap,
    pseudo-run B takes A's. The two-sided p-value is ``(count + 1) / (rounds + 1)`` with count =
    rounds whose ``|difference|`` is at least the observed one (up to ``100 eps`` relative, so
    float rounding does not decide ties). As ``rounds`` grows it tends to the exact permutation
    p-value over all ``2^N`` swap patterns.

    Args:
        metric: a :class:`MixableMetric`.
        n: number of samples N.
        rounds: random swap patterns.
        seed: seed of the coins; same seed => identical p-value.
        batch: rounds per ``compute_mixed`` call (default: about 4 Mi entries per call).
    """
    check_metric(metric, MixableMetric, "compute_mixed")
    name = f"{type(metric).__name__}.compute"
    observed = check_finite_scalar(metric.compute(inputs_a), name) - check_finite_scalar(
        metric.compute(inputs_b), name
    )
    threshold = abs(observed) - 100.0 * np.finfo(np.float64).eps * abs(observed)
    count = 0
    total = 0
    for swap in swap_masks(n, rounds, seed=seed, batch=batch):
        rows = swap.shape[0]
        pseudo_a = as_row_values(
            metric.compute_mixed(inputs_a, inputs_b, swap), rows, metric, "compute_mixed"
        )
        pseudo_b = as_row_values(
            metric.compute_mixed(inputs_a, inputs_b, ~swap), rows, metric, "compute_mixed"
        )
        count += int(np.count_nonzero(np.abs(pseudo_a - pseudo_b) >= threshold))
        total += rows
    return PermutationTest(observed, (count + 1) / (total + 1), total)


def _correctness(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise StatsError(
            f"{name} must be 1-D, got shape {array.shape}", fix="pass one 0/1 per sample"
        )
    if array.dtype != bool and not np.all((array == 0) | (array == 1)):
        raise StatsError(
            f"{name} must hold only 0/1 or True/False (correct or not per sample)",
            fix="pass prediction == target",
        )
    return array.astype(bool)


def mcnemar(correct_a: Any, correct_b: Any, *, exact: bool | None = None) -> McNemar:
    """McNemar's test for the accuracies of two classifiers on the same samples.

    Only discordant pairs count: ``b`` = A right and B wrong, ``c`` = A wrong and B right. Under
    equal accuracy ``b ~ Binomial(b + c, 1/2)``.

    - exact: ``p = min(1, 2 P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)`` (equal to
      ``scipy.stats.binomtest(b, b + c).pvalue``); statistic ``min(b, c)``.
    - chi2: ``s = max(|b - c| - 1, 0)^2 / (b + c)`` (Edwards' continuity correction, clipped at 0
      so b = c gives s = 0) with a chi-square(1) p-value.

    Args:
        correct_a, correct_b: 0/1 or bool ``[N]``, whether each run got sample i right.
        exact: force the exact test (True) or chi-square (False); default: exact when
            ``b + c < MCNEMAR_EXACT_BELOW`` (25).
    """
    a = _correctness(correct_a, "correct_a")
    b_right = _correctness(correct_b, "correct_b")
    if a.shape != b_right.shape:
        raise StatsError(
            f"correct_a has {a.size} samples, correct_b has {b_right.size}",
            fix="pass the two runs' correctness on the same samples, aligned by id",
        )
    b = int(np.count_nonzero(a & ~b_right))
    c = int(np.count_nonzero(~a & b_right))
    discordant = b + c
    use_exact = discordant < MCNEMAR_EXACT_BELOW if exact is None else bool(exact)
    if discordant == 0:
        return McNemar(0.0, 1.0, b, c, "exact" if use_exact else "chi2")
    if use_exact:
        smaller = min(b, c)
        p_value = min(1.0, 2.0 * float(bdtr(smaller, discordant, 0.5)))
        return McNemar(float(smaller), p_value, b, c, "exact")
    statistic = max(abs(b - c) - 1, 0) ** 2 / discordant
    return McNemar(float(statistic), float(chdtrc(1, statistic)), b, c, "chi2")
