"""sacrebleu's bootstrap conventions, computed from per-sample statistics.

sacrebleu 2.6 (``--confidence``, ``--paired-bs``) draws its resamples as
``np.random.default_rng(seed).choice(N, size=(R, N))`` with seed 12345 (``SACREBLEU_SEED``),
scores each resample from summed statistics, and reports:

- an interval as mean +- half the distance between the sorted scores at positions ``R // 40``
  and ``R - R // 40 - 1`` (the 2.5% / 97.5% order statistics);
- for a paired test of a system against a baseline, the p-value
  ``(#{|d_r| - mean|d| > |d|} + 1) / (R + 1)`` where ``d`` is the difference of the full-set
  scores and ``d_r`` of resample r.

With the same seed, the same R and the same statistics, the functions here draw the same index
rows and so return the same numbers (to float rounding) without a Python loop per resample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymodal.evaluate.generation.corpus import (
    GenerationInputs,
    GenerationMetric,
    chunk_rows,
    chunk_sums,
    resampled_sums,
    sum_dtype,
)

SACREBLEU_SEED = 12345


@dataclass(frozen=True)
class SacreInterval:
    """A corpus score with sacrebleu's bootstrap mean, half-width and bounds."""

    score: float
    mean: float
    half_width: float
    low: float
    high: float
    resamples: int


@dataclass(frozen=True)
class SacrePaired:
    """sacrebleu's paired bootstrap of a system against a baseline."""

    baseline: float
    system: float
    p_value: float
    system_interval: SacreInterval


def sacrebleu_indices(n: int, resamples: int = 1000, seed: int = SACREBLEU_SEED) -> np.ndarray:
    """int64 ``[R, N]``: the resamples sacrebleu draws for N sentences."""
    rng = np.random.default_rng(seed)
    if n < 2**31:  # the values ``choice`` draws (32-bit bounded draws), written as int32: faster
        return rng.integers(0, n, size=(resamples, n), dtype=np.int32)
    return rng.choice(n, size=(resamples, n), replace=True)


def sacrebleu_sums(
    stats: np.ndarray, resamples: int = 1000, seed: int = SACREBLEU_SEED
) -> np.ndarray:
    """float64 ``[R, K]``: column sums of ``stats [N, K]`` over each of sacrebleu's resamples.

    Equal to ``resampled_sums(stats, sacrebleu_indices(N, R, seed))``, but the index rows are
    drawn a chunk at a time from the one generator (its stream continues across calls, so the
    rows are the same) and counted at once: draws, counts and product stay in cache and the
    ``[R, N]`` index matrix is never held.
    """
    n = len(stats)
    if n * chunk_rows(n) >= 2**31:
        return resampled_sums(stats, sacrebleu_indices(n, resamples, seed))
    rng = np.random.default_rng(seed)
    table = stats.astype(sum_dtype(stats, n))
    rows = chunk_rows(n)
    out = np.empty((resamples, stats.shape[1]))
    for start in range(0, resamples, rows):
        k = min(rows, resamples - start)
        out[start : start + k] = chunk_sums(rng.integers(0, n, size=(k, n), dtype=np.int32), table)
    return out


def _resampled_scores(
    metric: GenerationMetric, inputs: GenerationInputs, resamples: int, seed: int
) -> np.ndarray:
    if metric.family == "meteor":  # its scores come from Java, per index row
        return metric.compute_resampled(inputs, sacrebleu_indices(inputs.size, resamples, seed))
    sums = sacrebleu_sums(metric.statistics(inputs), resamples, seed)
    return metric.from_sums(sums, np.full(resamples, inputs.size))


def _interval(score: float, scores: np.ndarray) -> SacreInterval:
    ordered = np.sort(scores)
    lower = len(ordered) // 40
    low, high = float(ordered[lower]), float(ordered[len(ordered) - lower - 1])
    return SacreInterval(score, float(ordered.mean()), 0.5 * (high - low), low, high, len(scores))


def sacrebleu_interval(
    metric: GenerationMetric,
    inputs: GenerationInputs,
    *,
    resamples: int = 1000,
    seed: int = SACREBLEU_SEED,
) -> SacreInterval:
    """sacrebleu's bootstrap interval of ``metric`` (as ``sacrebleu --confidence``)."""
    scores = _resampled_scores(metric, inputs, resamples, seed)
    return _interval(metric.compute(inputs), scores)


def sacrebleu_paired(
    metric: GenerationMetric,
    baseline: GenerationInputs,
    system: GenerationInputs,
    *,
    resamples: int = 1000,
    seed: int = SACREBLEU_SEED,
) -> SacrePaired:
    """sacrebleu's paired bootstrap test (``--paired-bs``) of ``system`` against ``baseline``,
    two systems' statistics on the same sentences in the same order."""
    score_bl, score_sys = metric.compute(baseline), metric.compute(system)
    if metric.family == "meteor":
        scores_bl = _resampled_scores(metric, baseline, resamples, seed)
        scores_sys = _resampled_scores(metric, system, resamples, seed)
    else:  # one occurrence-count matrix for both systems: their statistics side by side
        width = metric.statistics(baseline).shape[1]
        both = np.hstack([metric.statistics(baseline), metric.statistics(system)])
        sums = sacrebleu_sums(both, resamples, seed)
        sizes = np.full(resamples, baseline.size)
        scores_bl = metric.from_sums(sums[:, :width], sizes)
        scores_sys = metric.from_sums(sums[:, width:], sizes)
    sample_diffs = np.abs(scores_sys - scores_bl)
    centred = sample_diffs - sample_diffs.mean()
    p_value = (int(np.sum(centred > abs(score_bl - score_sys))) + 1) / (len(centred) + 1)
    return SacrePaired(score_bl, score_sys, p_value, _interval(score_sys, scores_sys))
