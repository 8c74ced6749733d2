"""Regression metrics: MAE, MSE, RMSE, R², Pearson and Spearman correlation.

Target and prediction are float ``[N, K]``. With several outputs (K > 1) every metric is the
unweighted mean over outputs of the per-output metric (scikit-learn's
``multioutput="uniform_average"``); so RMSE is the mean of per-output RMSEs, not the RMSE of all
errors pooled.

Pearson and Spearman are NaN when the prediction or the target is constant (as scipy), with that
reason in the evaluation's notes.
"""

from __future__ import annotations

import numpy as np

from polymodal.evaluate.metrics.base import Metric, SumMetric
from polymodal.evaluate.metrics.inputs import MetricInputs, MetricValue
from polymodal.evaluate.metrics.sums import SampleStats, Sums, safe_divide
from polymodal.registry import METRICS


class MeanAbsoluteError(SumMetric):
    """Mean of ``|prediction - target|`` (sklearn ``mean_absolute_error``)."""

    name = "mae"
    higher_is_better = False
    task = ("regression",)
    convention = "mean absolute error; mean over outputs when K > 1"

    def value(self, inputs: MetricInputs) -> MetricValue:
        error = np.subtract(inputs.prediction, inputs.target)
        return float(np.abs(error, out=error).mean())  # every output has N values

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        error = np.abs(inputs.prediction - inputs.target).mean(axis=1)  # [N]
        return SampleStats(dense=error[:, None])

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


class MeanSquaredError(SumMetric):
    """Mean of ``(prediction - target)^2`` (sklearn ``mean_squared_error``)."""

    name = "mse"
    higher_is_better = False
    task = ("regression",)
    convention = "mean squared error; mean over outputs when K > 1"

    def value(self, inputs: MetricInputs) -> MetricValue:
        error = np.subtract(inputs.prediction, inputs.target)  # [N, K]
        return float(np.einsum("ij,ij->", error, error) / error.size)

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        error = ((inputs.prediction - inputs.target) ** 2).mean(axis=1)  # [N]
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


CONSTANT_TOLERANCE = 1e-10
"""A resample's variable counts as constant when its sum of squared deviations is below this
share of its sum of squares (the rounding of the one-pass formula is ~1e-16 of it)."""


def pearson_from_sums(dense: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Pearson r per row and output ``[R, K]`` from sums of :func:`moment_stats` ``[R, 5K]``;
    NaN where a variable is constant. Clipped to [-1, 1] like scipy."""
    sx, sy, sxx, syy, sxy = np.split(dense, 5, axis=1)  # each [R, K]
    n = count[:, None]
    cov = sxy - sx * sy / n
    var_x, var_y = sxx - sx * sx / n, syy - sy * sy / n
    constant = (var_x <= CONSTANT_TOLERANCE * sxx) | (var_y <= CONSTANT_TOLERANCE * syy)
    var = np.where(constant, 0.0, np.clip(var_x, 0.0, None) * np.clip(var_y, 0.0, None))
    r = safe_divide(cov, np.sqrt(var), zero=np.nan)
    return np.clip(r, -1.0, 1.0)


def constant_columns(inputs: MetricInputs) -> str:
    """Why a correlation is NaN: which of prediction / target is constant (per output)."""
    parts = [
        name
        for name, values in (("prediction", inputs.prediction), ("target", inputs.target))
        if np.any(values.min(axis=0) == values.max(axis=0))
    ]
    return f"{' and '.join(parts) or 'a variable'} is constant, so the correlation is undefined"


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

    def value(self, inputs: MetricInputs) -> MetricValue:
        values = [
            pearson(inputs.prediction[:, j], inputs.target[:, j])
            for j in range(inputs.target.shape[1])
        ]
        return float(np.mean(values))

    def why_undefined(self, inputs: MetricInputs) -> str:
        return constant_columns(inputs)

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
    """Pearson r of two ``[N]`` arrays (two-pass formula); NaN if one is constant (all values
    equal, as scipy, whose rounding-level residue would otherwise give a meaningless r)."""
    if x.min() == x.max() or y.min() == y.max():
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    # einsum, not a BLAS dot: no thread start-up, ~10x faster on 1e5 values of a busy machine
    sxx, syy, sxy = (np.einsum("i,i->", a, b) for a, b in ((xc, xc), (yc, yc), (xc, yc)))
    den = np.sqrt(sxx * syy)
    return float(np.clip(sxy / den, -1.0, 1.0)) if den > 0 else float("nan")


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

    def why_undefined(self, inputs: MetricInputs) -> str:
        return constant_columns(inputs)


@METRICS.register("mae")
def mae() -> Metric:
    """Mean absolute error."""
    return MeanAbsoluteError()


@METRICS.register("mse")
def mse() -> Metric:
    """Mean squared error."""
    return MeanSquaredError()


@METRICS.register("rmse")
def rmse() -> Metric:
    """Root mean squared error."""
    return RootMeanSquaredError()


@METRICS.register("r2")
def r2() -> Metric:
    """Coefficient of determination."""
    return R2Score()


@METRICS.register("pearson")
def pearson_r() -> Metric:
    """Pearson correlation of prediction and target."""
    return PearsonCorrelation()


@METRICS.register("spearman")
def spearman() -> Metric:
    """Spearman rank correlation of prediction and target."""
    return SpearmanCorrelation()
