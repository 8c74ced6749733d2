"""Calibration and scoring rules: expected calibration error (equal-width and equal-mass bins, top
label or p(positive)), Brier score (multiclass sum, or binary as scikit-learn), log loss, and the
data of a reliability diagram.

For a multiclass sample the *confidence* is its highest class probability and it is *correct*
when the class of that probability (the first one on ties) is the target (Guo et al., "On
Calibration of Modern Neural Networks", ICML 2017). With M bins B_1..B_M over N samples::

    ECE = sum_m |B_m| / N * |acc(B_m) - conf(B_m)| = sum_m |sum_{i in B_m} (correct_i - conf_i)| / N

- equal-width bins: ``B_m = {i : edges[m] < conf_i <= edges[m + 1]}`` with
  ``edges = linspace(0, 1, M + 1)`` (a confidence of exactly 0 falls in the first bin);
- equal-mass bins: samples sorted by confidence (ties: incorrect first) are split into M
  consecutive groups of sizes differing by at most one, the larger ones first
  (``np.array_split``; Nixon et al., "Measuring Calibration in Deep Learning", CVPR-W 2019).

``ece_positive`` bins p(positive) instead (the binary form, as ``sklearn.calibration.
calibration_curve`` with ``strategy="uniform"``): ``sum_m |sum_{i in B_m} (y_i - p_i)| / N``
with ``y_i = 1`` when the target is the positive class. ``brier_binary`` is scikit-learn's
``brier_score_loss`` ``mean((p_positive - y)^2)``, ``brier`` the multiclass sum over classes
(twice the binary value for two classes). ``log_loss`` is scikit-learn's: ``-mean(log p_target)``
with probabilities clipped to ``[eps, 1 - eps]``, eps the float64 machine epsilon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from polymodal.evaluate.metrics.base import Metric, SumMetric, WeightedMetric
from polymodal.evaluate.metrics.inputs import MetricError, MetricInputs
from polymodal.evaluate.metrics.sums import KeyedStat, SampleStats, Sums, safe_divide
from polymodal.registry import METRICS

Strategy = Literal["width", "mass"]


def confidence_and_correct(inputs: MetricInputs, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Top-class probability and whether that class is the target: float64 ``[N]`` each."""
    scores = inputs.require_scores(metric)
    top = scores.argmax(axis=1)  # first maximum on ties
    confidence = scores[np.arange(len(top)), top]
    return confidence, (top == inputs.target).astype(np.float64)


def width_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each confidence, int64 ``[N]`` in ``[0, n_bins)``: bin m holds
    ``(m / M, (m + 1) / M]``; values <= 0 go to bin 0 and values > 1 to the last bin."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], confidence, side="left").astype(np.int64)


def mass_boundaries(n: np.ndarray, n_bins: int) -> np.ndarray:
    """Start positions of the equal-mass bins of ``n`` sorted samples, plus the end:
    int64 ``[..., n_bins + 1]`` (``np.array_split`` sizes: the first ``n % M`` bins one larger)."""
    m = np.arange(n_bins + 1)
    n = np.asarray(n)[..., None]
    return m * (n // n_bins) + np.minimum(m, n % n_bins)


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise MetricError(f"n_bins must be an integer >= 1, got {n_bins!r}", fix="e.g. n_bins=15")
    return int(n_bins)


class ExpectedCalibrationError(SumMetric):
    """ECE with equal-width bins; the sums are per-bin residuals ``sum (correct - conf)``."""

    name = "ece"
    higher_is_better = False
    task = ("multiclass",)

    def __init__(self, n_bins: int = 15) -> None:
        self.n_bins = _check_bins(n_bins)
        self.convention = (
            f"{self.n_bins} equal-width bins (m/M, (m+1)/M]; confidence = top probability, "
            "correct = its class is the target"
        )

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        confidence, correct = confidence_and_correct(inputs, self.name)
        bins = width_bins(confidence, self.n_bins)
        return SampleStats(keyed=(KeyedStat(bins, self.n_bins, correct - confidence),))

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        return np.abs(sums.keyed[0]).sum(axis=1) / sums.count


@dataclass(frozen=True)
class _SortedResiduals:
    order: np.ndarray  # int64 [N], by (confidence, correct) ascending
    residual: np.ndarray  # float64 [N + 1], correct - confidence in that order, then 0


class EqualMassECE(WeightedMetric):
    """ECE with equal-mass bins.

    A resample is the sorted sample list with sample i repeated w_i times; each bin's residual
    sum is a difference of the prefix sums ``F(p)`` (sum of the first p values of that list) at
    the bin boundaries, which are computed for a chunk of resamples at once from
    ``cumsum(w)`` and ``cumsum(w * residual)``: exact, no loop over resamples.
    """

    name = "ece_equal_mass"
    higher_is_better = False
    task = ("multiclass",)

    def __init__(self, n_bins: int = 15) -> None:
        self.n_bins = _check_bins(n_bins)
        self.convention = (
            f"{self.n_bins} equal-mass bins (np.array_split of samples sorted by confidence, "
            "ties: incorrect first); confidence = top probability"
        )

    def prepare(self, inputs: MetricInputs) -> _SortedResiduals:
        confidence, correct = confidence_and_correct(inputs, self.name)
        order = np.lexsort((correct, confidence))
        residual = np.r_[(correct - confidence)[order], 0.0]
        return _SortedResiduals(order, residual)

    def from_weights(self, prepared: _SortedResiduals, weights: np.ndarray) -> np.ndarray:
        r, n = weights.shape
        w = weights[:, prepared.order]  # [R, N] in sorted order
        zero = np.zeros((r, 1))
        count = np.concatenate([zero, np.cumsum(w, axis=1)], axis=1)  # [R, N + 1]
        prefix = np.concatenate([zero, np.cumsum(w * prepared.residual[:n], axis=1)], axis=1)
        total = count[:, -1]
        bounds = mass_boundaries(total.astype(np.int64), self.n_bins)  # [R, M + 1]
        # k = samples whose copies all lie before position p: searchsorted per row, done for
        # every row at once by shifting row j's (sorted) values by j * (max total + 1).
        shift = (np.arange(r) * (total.max() + 1.0))[:, None]
        flat = np.searchsorted((count[:, 1:] + shift).ravel(), (bounds + shift).ravel(), "right")
        k = flat.reshape(r, -1) - (np.arange(r) * n)[:, None]  # [R, M + 1] in [0, N]
        rows = np.arange(r)[:, None]
        partial = (bounds - count[rows, k]) * prepared.residual[k]  # copies of sample k before p
        cumulative = prefix[rows, k] + partial  # F(p) at every boundary
        return np.abs(np.diff(cumulative, axis=1)).sum(axis=1) / total


class BrierScore(SumMetric):
    """Mean over samples of ``sum_c (p_c - y_c)^2`` with y the one-hot target (multiclass) or
    the 0/1 labels (multilabel); Brier, "Verification of forecasts expressed in terms of
    probability", 1950. Ranges in [0, 2] for multiclass."""

    name = "brier"
    higher_is_better = False
    task = ("multiclass", "multilabel")
    convention = "mean over samples of the sum over classes of squared probability error"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        scores = inputs.require_scores(self.name)
        if inputs.task_type == "multiclass":
            truth = np.zeros_like(scores)
            truth[np.arange(len(scores)), inputs.target] = 1.0
        else:
            truth = (inputs.target > 0.5).astype(np.float64)
        return SampleStats(dense=((scores - truth) ** 2).sum(axis=1, keepdims=True))

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


def positive_scores(
    inputs: MetricInputs, metric: str, positive: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(p(positive), is positive)`` float64 ``[N]`` each (multiclass inputs with scores)."""
    scores = inputs.require_scores(metric)
    if not 0 <= positive < scores.shape[1]:
        raise MetricError(
            f"{metric}: positive class {positive} but scores have {scores.shape[1]} columns",
            fix=f"set {metric}.positive to a class id below {scores.shape[1]}",
        )
    return scores[:, positive], (inputs.target == positive).astype(np.float64)


class PositiveECE(SumMetric):
    """ECE of p(positive) with equal-width bins (module docstring)."""

    name = "ece_positive"
    higher_is_better = False
    task = ("multiclass",)

    def __init__(self, n_bins: int = 15, positive: int = 1) -> None:
        self.n_bins = _check_bins(n_bins)
        self.positive = positive
        self.convention = (
            f"{self.n_bins} equal-width bins of p(class {positive}); "
            "sum over bins of |sum(y - p)| / N"
        )

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        p, y = positive_scores(inputs, self.name, self.positive)
        bins = width_bins(p, self.n_bins)
        return SampleStats(keyed=(KeyedStat(bins, self.n_bins, y - p),))

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        return np.abs(sums.keyed[0]).sum(axis=1) / sums.count


class BinaryBrier(SumMetric):
    """scikit-learn's ``brier_score_loss``: ``mean((p_positive - y)^2)``."""

    name = "brier_binary"
    higher_is_better = False
    task = ("multiclass",)

    def __init__(self, positive: int = 1) -> None:
        self.positive = positive
        self.convention = f"mean squared error of p(class {positive}) vs 1[target == {positive}]"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        p, y = positive_scores(inputs, self.name, self.positive)
        return SampleStats(dense=((p - y) ** 2)[:, None])

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


class LogLoss(SumMetric):
    """Cross-entropy of the target's probability (scikit-learn's ``log_loss``)."""

    name = "log_loss"
    higher_is_better = False
    task = ("multiclass",)
    convention = "-mean log p(target), p clipped to [eps, 1 - eps] (float64 eps, as sklearn)"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        scores = inputs.require_scores(self.name)
        eps = np.finfo(np.float64).eps
        p = np.take_along_axis(scores, inputs.target[:, None], axis=1)  # [N, 1]
        return SampleStats(dense=-np.log(np.clip(p, eps, 1.0 - eps)))

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


def reliability_diagram(
    inputs: MetricInputs, n_bins: int = 15, strategy: Strategy = "width"
) -> dict[str, Any]:
    """Data of a reliability diagram (multiclass).

    Args:
        inputs: multiclass inputs with scores.
        n_bins: number of bins M.
        strategy: ``width`` (equal-width bins) or ``mass`` (equal-mass bins), as the ECE metrics.

    Returns:
        ``{"edges": [M + 1], "confidence": [M], "accuracy": [M], "count": [M], "ece": float}``:
        per-bin mean confidence and accuracy (NaN for an empty bin) and sample count. For
        ``mass`` the edges are the lowest confidence of each bin and the highest overall.
    """
    n_bins = _check_bins(n_bins)
    if inputs.task_type != "multiclass":
        raise MetricError("a reliability diagram needs multiclass inputs")
    confidence, correct = confidence_and_correct(inputs, "reliability_diagram")
    if strategy == "width":
        bins = width_bins(confidence, n_bins)
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "mass":
        order = np.lexsort((correct, confidence))
        bounds = mass_boundaries(np.int64(len(order)), n_bins)
        bins = np.empty(len(order), dtype=np.int64)
        bins[order] = np.searchsorted(bounds[1:], np.arange(len(order)), side="right")
        ranked = confidence[order]
        edges = np.r_[ranked[np.minimum(bounds[:-1], len(order) - 1)], ranked[-1]]
    else:
        raise MetricError(f"unknown binning strategy {strategy!r}", fix="use 'width' or 'mass'")
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    return {
        "edges": edges.tolist(),
        "confidence": safe_divide(conf_sum, count, zero=np.nan).tolist(),
        "accuracy": safe_divide(acc_sum, count, zero=np.nan).tolist(),
        "count": count.astype(np.int64).tolist(),
        "ece": float(np.abs(acc_sum - conf_sum).sum() / len(confidence)),
    }


@METRICS.register("ece")
def ece(bins: int = 15) -> Metric:
    """Expected calibration error of the top label, equal-width bins."""
    return ExpectedCalibrationError(bins)


@METRICS.register("ece_equal_mass")
def ece_equal_mass(bins: int = 15) -> Metric:
    """Expected calibration error of the top label, equal-mass bins."""
    return EqualMassECE(bins)


@METRICS.register("ece_positive")
def ece_positive(bins: int = 15, positive: int = 1) -> Metric:
    """Expected calibration error of p(positive), equal-width bins."""
    return PositiveECE(bins, positive)


@METRICS.register("brier_binary")
def brier_binary(positive: int = 1) -> Metric:
    """Brier score of p(positive), as scikit-learn's brier_score_loss."""
    return BinaryBrier(positive)


@METRICS.register("log_loss")
def log_loss() -> Metric:
    """Log loss (cross-entropy) of the target's probability."""
    return LogLoss()


@METRICS.register("brier")
def brier() -> Metric:
    """Brier score (multiclass: sum over classes)."""
    return BrierScore()
