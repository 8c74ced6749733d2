"""Sentiment metrics of CMU-MOSI / CMU-MOSEI on continuous scores in [-3, 3].

The conventions are those of the MMSA toolkit (Yu et al., "CH-SIMS", ACL 2020; ``metricsTop.py``),
which most papers on these datasets report; they differ in how a zero (neutral) label counts:

- ``acc2_nonneg`` / ``f1_nonneg``: negative (< 0) vs non-negative (>= 0), on every sample;
- ``acc2_nonzero`` / ``f1_nonzero``: negative (<= 0) vs positive (> 0), on samples whose label is
  not 0 (Tsai et al., "Multimodal Transformer", ACL 2019, report this one);
- F1 is scikit-learn's ``f1_score(average="weighted")`` of the two binary classes;
- ``acc2_zero_negative``: negative-or-zero (<= 0) vs positive (> 0) on every sample, MultiBench's
  ``eval_affect(..., exclude_zero=False)`` (zero counted as negative);
- ``acc5`` / ``acc7``: clip to [-2, 2] / [-3, 3], round to the nearest integer (``np.round``,
  half to even, as MMSA), and compare classes; ``acc3`` the same rule on [-1, 1] (negative,
  neutral, positive).

Without a non-zero label, ``acc2_nonzero`` and ``f1_nonzero`` are both NaN (no sample to score),
with that reason in the evaluation's notes.

The task is regression with one output (K = 1): target and prediction are the sentiment scores.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from polymodal.evaluate.metrics.base import Metric, SumMetric
from polymodal.evaluate.metrics.classification import averaged, class_count_stats, class_counts
from polymodal.evaluate.metrics.inputs import MetricError, MetricInputs
from polymodal.evaluate.metrics.sums import SampleStats, Sums, safe_divide
from polymodal.registry import METRICS

Convention = Literal["nonneg", "nonzero", "zero_negative"]


def sentiment_scores(inputs: MetricInputs, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(prediction, target)`` as float ``[N]``; MetricError unless there is one output."""
    if inputs.target.shape[1] != 1:
        raise MetricError(
            f"metric {metric!r} needs one sentiment score per sample, got "
            f"{inputs.target.shape[1]} regression outputs",
            fix="use sentiment metrics on a single-output regression task (MOSI / MOSEI)",
        )
    return inputs.prediction[:, 0], inputs.target[:, 0]


def binarise(
    prediction: np.ndarray, target: np.ndarray, convention: Convention
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(predicted positive, true positive, included)`` bool ``[N]`` under ``convention``."""
    if convention == "nonneg":
        return prediction >= 0, target >= 0, np.ones(len(target), dtype=bool)
    if convention == "zero_negative":
        return prediction > 0, target > 0, np.ones(len(target), dtype=bool)
    return prediction > 0, target > 0, target != 0


NO_NONZERO = "no sample has a non-zero label (acc2_nonzero / f1_nonzero score only those)"


class BinaryAccuracy(SumMetric):
    """Acc-2 under the ``nonneg`` or ``nonzero`` convention (see the module docstring)."""

    higher_is_better = True
    task = ("regression",)

    def __init__(self, convention: Convention) -> None:
        self.mode: Convention = convention
        self.name = f"acc2_{convention}"
        self.convention = {
            "nonneg": "binary accuracy of (score >= 0), zero labels counted as non-negative",
            "nonzero": "binary accuracy of (score > 0) on samples whose label is not 0",
            "zero_negative": "binary accuracy of (score > 0) on every sample, zero labels "
            "counted as negative (MultiBench)",
        }[convention]

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        pred, true, included = binarise(*sentiment_scores(inputs, self.name), self.mode)
        correct = included & (pred == true)
        return SampleStats(dense=np.stack([included, correct], axis=1).astype(np.float64))

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return safe_divide(sums.dense[:, 1], sums.dense[:, 0], zero=np.nan)

    def why_undefined(self, inputs: MetricInputs) -> str:
        return NO_NONZERO


class BinaryWeightedF1(SumMetric):
    """Weighted F1 of the two Acc-2 classes (MMSA: ``f1_score(..., average="weighted")``)."""

    higher_is_better = True
    task = ("regression",)

    def __init__(self, convention: Convention) -> None:
        self.mode: Convention = convention
        self.name = f"f1_{convention}"
        self.convention = {
            "nonneg": "support-weighted F1 of classes (score < 0, score >= 0), every sample",
            "nonzero": "support-weighted F1 of classes (score <= 0, score > 0), labels != 0",
        }[convention]

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        pred, true, included = binarise(*sentiment_scores(inputs, self.name), self.mode)
        binary = MetricInputs("multiclass", true.astype(np.int64), pred.astype(np.int64), None, 2)
        return class_count_stats(binary, include=included)

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        tp, support, predicted = class_counts(sums)
        f1 = averaged(tp, support, predicted, "f1", "weighted", all_labels=False)
        return np.where(support.sum(axis=1) > 0, f1, np.nan)  # no sample scored: undefined

    def why_undefined(self, inputs: MetricInputs) -> str:
        return NO_NONZERO


class RoundedAccuracy(SumMetric):
    """Acc-5 / Acc-7: accuracy of scores clipped to [-bound, bound] and rounded to integers."""

    higher_is_better = True
    task = ("regression",)

    def __init__(self, classes: Literal[3, 5, 7]) -> None:
        self.bound = (classes - 1) // 2
        self.name = f"acc{classes}"
        self.convention = (
            f"clip scores to [-{self.bound}, {self.bound}], round half to even (np.round), "
            f"accuracy over {classes} classes"
        )

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        pred, true = sentiment_scores(inputs, self.name)
        b = self.bound
        correct = np.round(np.clip(pred, -b, b)) == np.round(np.clip(true, -b, b))
        return SampleStats(dense=correct.astype(np.float64)[:, None])

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


@METRICS.register("acc2_nonneg")
def acc2_nonneg() -> Metric:
    """Acc-2, negative vs non-negative (zero counts as non-negative)."""
    return BinaryAccuracy("nonneg")


@METRICS.register("acc2_nonzero")
def acc2_nonzero() -> Metric:
    """Acc-2, negative vs positive, zero labels excluded."""
    return BinaryAccuracy("nonzero")


@METRICS.register("f1_nonneg")
def f1_nonneg() -> Metric:
    """Weighted F1 of the Acc-2 non-negative convention."""
    return BinaryWeightedF1("nonneg")


@METRICS.register("f1_nonzero")
def f1_nonzero() -> Metric:
    """Weighted F1 of the Acc-2 non-zero convention."""
    return BinaryWeightedF1("nonzero")


@METRICS.register("acc2_zero_negative")
def acc2_zero_negative() -> Metric:
    """Acc-2, zero labels counted as negative, every sample (MultiBench)."""
    return BinaryAccuracy("zero_negative")


@METRICS.register("acc3")
def acc3() -> Metric:
    """3-class accuracy of scores clipped to [-1, 1] and rounded."""
    return RoundedAccuracy(3)


@METRICS.register("acc5")
def acc5() -> Metric:
    """5-class accuracy of scores clipped to [-2, 2] and rounded."""
    return RoundedAccuracy(5)


@METRICS.register("acc7")
def acc7() -> Metric:
    """7-class accuracy of scores clipped to [-3, 3] and rounded."""
    return RoundedAccuracy(7)
