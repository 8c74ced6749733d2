"""Regression metrics: MAE, RMSE, R², Pearson and Spearman correlation.

Target and prediction are float ``[N, K]``. With several outputs (K > 1) every metric is the
unweighted mean over outputs of the per-output metric (scikit-learn's
``multioutput="uniform_average"``); so RMSE is the mean of per-output RMSEs, not the RMSE of all
errors pooled.
"""

from __future__ import annotations

import numpy as np

from polymodal.evaluate.metrics.base import (
    Metric,
    MetricInputs,
    MetricValue,
    SampleStats,
    SumMetric,
    Sums,
    safe_divide,
)
from polymodal.registry import METRICS


class MeanAbsoluteError(SumMetric):
    """Mean of ``|prediction - target|`` (sklearn ``mean_absolute_error``)."""

    name = "mae"
    higher_is_better = False
    task = ("regression",)
    convention = "mean absolute error; mean over outputs when K > 1"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        error = np.abs(inputs.prediction - inputs.target).mean(axis=1)  # [N]
        return SampleStats(dense=error[:, None])

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


class RootMeanSquaredError(SumMetric):
    """``sqrt(mean((prediction - target)^2))`` per output, averaged over outputs (sklearn
    ``root_mean_squared_error``)."""

    name = "rmse"
    higher_is_better = False
    task = ("regression",)
    convention = "root mean squared error per output, then mean over outputs"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        return SampleStats(dense=(inputs.prediction - inputs.target) ** 2)  # [N, K]

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return np.sqrt(sums.dense / sums.count[:, None]).mean(axis=1)


def _centred(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and target minus the target's per-output mean (a constant shared by every
    run on these samples, so sums of two runs can be mixed); it keeps the one-pass moment
    formulas below free of cancellation when values sit far from zero."""
    shift = inputs.target.mean(axis=0, keepdims=True)  # [1, K]
    return inputs.prediction - shift, inputs.target - shift


def moment_stats(x: np.ndarray, y: np.ndarray) -> SampleStats:
    """Per-sample ``x, y, x², y², xy`` for each output: dense ``[N, 5K]``."""
    return SampleStats(dense=np.concatenate([x, y, x * x, y * y, x * y], axis=1))


def pearson_from_sums(dense: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Pearson r per row and output ``[R, K]`` from sums of :func:`moment_stats` ``[R, 5K]``;
    NaN where a variable is constant. Clipped to [-1, 1] like scipy."""
    sx, sy, sxx, syy, sxy = np.split(dense, 5, axis=1)  # each [R, K]
    n = count[:, None]
    cov = sxy - sx * sy / n
    var = (sxx - sx * sx / n) * (syy - sy * sy / n)
    r = safe_divide(cov, np.sqrt(np.clip(var, 0.0, None)), zero=np.nan)
    return np.clip(r, -1.0, 1.0)


class R2Score(SumMetric):
    """Coefficient of determination ``1 - SSE / SST`` per output, averaged (sklearn
    ``r2_score``); 0 for a constant target predicted imperfectly, 1 when predicted exactly."""

    name = "r2"
    higher_is_better = True
    task = ("regression",)
    convention = "1 - sum sq. error / sum sq. deviation from the target mean; mean over outputs"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        x, y = _centred(inputs)
        return SampleStats(dense=np.concatenate([(x - y) ** 2, y, y * y], axis=1))  # [N, 3K]

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        sse, sy, syy = np.split(sums.dense, 3, axis=1)
        sst = syy - sy * sy / sums.count[:, None]
        perfect = np.where(sse == 0, 1.0, 0.0)  # sklearn's value when SST = 0
        r2 = np.where(sst > 0, 1.0 - safe_divide(sse, sst), perfect)
        return r2.mean(axis=1)


class PearsonCorrelation(SumMetric):
    """Pearson correlation between prediction and target (``scipy.stats.pearsonr``); mean over
    outputs. Resampled from five moment sums per output."""

    name = "pearson"
    higher_is_better = True
    task = ("regression",)
    convention = "Pearson r of prediction vs target; mean over outputs; NaN if constant"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        return moment_stats(*_centred(inputs))

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return pearson_from_sums(sums.dense, sums.count).mean(axis=1)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values [N]``, ties getting the mean of their ranks (like
    ``scipy.stats.rankdata``)."""
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(values)]
    group_rank = (starts + ends + 1) / 2.0  # mean of 1-based ranks start+1 .. end
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two ``[N]`` arrays (two-pass formula); NaN if one is constant."""
    xc, yc = x - x.mean(), y - y.mean()
    den = np.sqrt((xc @ xc) * (yc @ yc))
    return float(np.clip(xc @ yc / den, -1.0, 1.0)) if den > 0 else float("nan")


class SpearmanCorrelation(Metric):
    """Spearman rank correlation (``scipy.stats.spearmanr``): Pearson r of average ranks; mean
    over outputs. Resampled values use the loop fallback (ranks change with every resample)."""

    name = "spearman"
    higher_is_better = True
    task = ("regression",)
    convention = "Pearson r of average ranks (ties share their mean rank); mean over outputs"

    def value(self, inputs: MetricInputs) -> MetricValue:
        k = inputs.target.shape[1]
        values = [
            pearson(average_ranks(inputs.prediction[:, j]), average_ranks(inputs.target[:, j]))
            for j in range(k)
        ]
        return float(np.mean(values))


@METRICS.register("mae", higher_is_better=False, task=("regression",))
def mae() -> Metric:
    """Mean absolute error."""
    return MeanAbsoluteError()


@METRICS.register("rmse", higher_is_better=False, task=("regression",))
def rmse() -> Metric:
    """Root mean squared error."""
    return RootMeanSquaredError()


@METRICS.register("r2", higher_is_better=True, task=("regression",))
def r2() -> Metric:
    """Coefficient of determination."""
    return R2Score()


@METRICS.register("pearson", higher_is_better=True, task=("regression",))
def pearson_r() -> Metric:
    """Pearson correlation of prediction and target."""
    return PearsonCorrelation()


@METRICS.register("spearman", higher_is_better=True, task=("regression",))
def spearman() -> Metric:
    """Spearman rank correlation of prediction and target."""
    return SpearmanCorrelation()
