"""Multi-label metrics: mAP, subset accuracy and Hamming loss.

A multi-label target is float ``[N, L]`` of 0/1, the prediction ``[N, L]`` of 0/1 (values above
0.5 count as 1) and the scores ``[N, L]`` per-label probabilities. Micro / macro precision, recall
and F1 are the ones of :mod:`polymodal.evaluate.metrics.classification` (names ``f1_micro``,
``f1_macro``, ...), which apply to both task types; macro averages over every label there.
"""

from __future__ import annotations

import numpy as np

from polymodal.evaluate.metrics.base import Metric, SumMetric
from polymodal.evaluate.metrics.inputs import MetricInputs
from polymodal.evaluate.metrics.ranking import AbsentClass, AveragePrecision
from polymodal.evaluate.metrics.sums import SampleStats, Sums
from polymodal.registry import METRICS


def _binary(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    return inputs.target > 0.5, inputs.prediction > 0.5


class SubsetAccuracy(SumMetric):
    """Fraction of samples whose whole label set is predicted exactly (sklearn
    ``accuracy_score`` on indicator matrices)."""

    name = "subset_accuracy"
    higher_is_better = True
    task = ("multilabel",)
    convention = "exact match of the full 0/1 label vector"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        true, pred = _binary(inputs)
        exact = np.all(true == pred, axis=1).astype(np.float64)
        return SampleStats(dense=exact[:, None])  # [N, 1]

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


class HammingLoss(SumMetric):
    """Fraction of wrong label decisions over samples x labels (sklearn ``hamming_loss``)."""

    name = "hamming_loss"
    higher_is_better = False
    task = ("multilabel",)
    convention = "mean over samples and labels of prediction != target"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        true, pred = _binary(inputs)
        wrong = (true != pred).mean(axis=1)  # [N]
        return SampleStats(dense=wrong[:, None])

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


@METRICS.register("map")
def mean_average_precision(absent_class: AbsentClass = "drop") -> Metric:
    """Mean over labels (with positives, as torchmetrics) of the average precision of the
    label's scores."""
    return AveragePrecision("map", ("multilabel",), absent_class)


@METRICS.register("subset_accuracy")
def subset_accuracy() -> Metric:
    """Fraction of samples with every label right."""
    return SubsetAccuracy()


@METRICS.register("hamming_loss")
def hamming_loss() -> Metric:
    """Fraction of wrong label decisions."""
    return HammingLoss()
