"""Classification metrics: accuracy, balanced accuracy, precision / recall / F1 (averaged, per
class, or of one positive class), top-k accuracy and the confusion matrix (AUROC and average
precision: :mod:`polymodal.evaluate.metrics.ranking`).

Conventions follow scikit-learn (the reference the tests check against):

- precision / recall / F1 use zero division = 0 (a class never predicted has precision 0);
- ``macro`` averages over the classes present in the target *or* the prediction (multiclass,
  scikit-learn's ``labels=None``) or over every label (multilabel);
- ``micro`` pools counts over classes (for multiclass it equals accuracy);
- ``weighted`` weights each class by its support (true count);
- ``balanced_accuracy`` is the mean recall over classes present in the target;
- ``precision_binary`` / ``recall_binary`` / ``f1_binary`` are the scores of one class, named
  by ``positive`` (default 1), against the rest (``average="binary", pos_label=positive``);
- top-k accuracy breaks ties with the target's score by ``ties``: ``sklearn`` (default; equal to
  ``top_k_accuracy_score``: tied classes of a higher class id rank first), ``optimistic``
  (every tie ranks after the target) or ``pessimistic`` (every tie ranks before it). With
  k >= C every sample is a hit (1.0) and a warning says so, as scikit-learn.

Precision / recall / F1 apply to multiclass and multilabel tasks (one prediction per label, 0/1);
the other metrics of this module to multiclass tasks, AUROC and AUPRC also to multilabel ones.

Accuracy, balanced accuracy, top-k accuracy and precision / recall / F1 are sum metrics whose
per-sample statistics take few values (a confusion-matrix cell, a hit or a miss), so they are
categorical (:meth:`~polymodal.evaluate.metrics.base.SumMetric.from_counts`): their bootstrap
draws multinomial cell counts, O(C^2) per resample instead of O(N)
(:mod:`polymodal.evaluate.stats.categorical`).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from polymodal.evaluate.metrics.base import Metric, SumMetric
from polymodal.evaluate.metrics.inputs import MetricError, MetricInputs, MetricValue, MetricWarning
from polymodal.evaluate.metrics.sums import KeyedStat, SampleStats, Sums, safe_divide, total_sums
from polymodal.registry import METRICS

Stat = Literal["precision", "recall", "f1"]
Ties = Literal["sklearn", "optimistic", "pessimistic"]
Average = Literal["macro", "micro", "weighted"]

# --------------------------------------------------------------------------------------------
# Per-class counts as sufficient statistics


JOINT_CLASSES = 32
"""Up to this many classes, multiclass counts come from one confusion-matrix ``bincount``."""


def class_count_stats(inputs: MetricInputs, include: np.ndarray | None = None) -> SampleStats:
    """Per-sample statistics whose sums are the per-class counts (tp, support, predicted).

    Multiclass: the (target, prediction) cell of a C x C confusion matrix (one keyed count,
    C <= :data:`JOINT_CLASSES`), or else three keyed counts over C classes (one ``bincount``
    each when resampling). Multilabel: dense ``[N, 3L]`` (tp, true, predicted per label).
    ``include`` (bool ``[N]``) drops the other samples from every count.
    """
    c = inputs.num_classes
    if inputs.task_type == "multiclass":
        target, prediction = inputs.target, inputs.prediction
        keep = np.ones(len(inputs), bool) if include is None else include
        if c <= JOINT_CLASSES:
            cell = np.where(keep, target * c + prediction, c * c)
            return SampleStats(keyed=(KeyedStat(cell, c * c),))
        tp = np.where(keep & (target == prediction), target, c)
        return SampleStats(
            keyed=(
                KeyedStat(tp, c),
                KeyedStat(np.where(keep, target, c), c),
                KeyedStat(np.where(keep, prediction, c), c),
            )
        )
    true = inputs.target > 0.5
    pred = inputs.prediction > 0.5
    dense = np.concatenate([true & pred, true, pred], axis=1).astype(np.float64)  # [N, 3L]
    if include is not None:
        dense = dense * include[:, None]
    return SampleStats(dense=dense)


def class_counts(sums: Sums) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tp, support, predicted)``, each float64 ``[R, C]``, from sums of class_count_stats."""
    if len(sums.keyed) == 1:  # confusion matrices [R, C * C]
        r, cells = sums.keyed[0].shape
        c = round(cells**0.5)
        matrix = np.asarray(sums.keyed[0], dtype=np.float64).reshape(r, c, c)  # [R, true, pred]
        return np.diagonal(matrix, axis1=1, axis2=2), matrix.sum(axis=2), matrix.sum(axis=1)
    if sums.keyed:
        tp, support, predicted = (np.asarray(k, dtype=np.float64) for k in sums.keyed)
        return tp, support, predicted
    assert sums.dense is not None  # multilabel: [R, 3L]
    tp, support, predicted = np.split(sums.dense, 3, axis=1)
    return tp, support, predicted


def per_class(tp: np.ndarray, support: np.ndarray, predicted: np.ndarray, stat: Stat) -> np.ndarray:
    """Precision ``tp / predicted``, recall ``tp / support`` or F1 ``2 tp / (support +
    predicted)`` per class (0 where the denominator is 0), same shape as the counts."""
    if stat == "precision":
        return safe_divide(tp, predicted)
    if stat == "recall":
        return safe_divide(tp, support)
    return safe_divide(2.0 * tp, support + predicted)


def averaged(
    tp: np.ndarray,
    support: np.ndarray,
    predicted: np.ndarray,
    stat: Stat,
    average: Average,
    *,
    all_labels: bool,
) -> np.ndarray:
    """``[R]`` averages of per-class scores (counts ``[R, C]``).

    ``all_labels`` False averages ``macro`` over the classes with support or predictions only
    (scikit-learn multiclass, ``labels=None``); True over every class (multilabel).
    """
    if average == "micro":
        sums = (x.sum(axis=1) for x in (tp, support, predicted))
        return per_class(*sums, stat)
    values = per_class(tp, support, predicted, stat)  # [R, C]
    if average == "macro":
        used = np.ones_like(values) if all_labels else ((support + predicted) > 0).astype(float)
        return safe_divide((values * used).sum(axis=1), used.sum(axis=1))
    return safe_divide((values * support).sum(axis=1), support.sum(axis=1))


# --------------------------------------------------------------------------------------------
# Accuracy-type metrics


class Accuracy(SumMetric):
    """Fraction of samples whose predicted class equals the target (sklearn ``accuracy_score``)."""

    name = "accuracy"
    higher_is_better = True
    task = ("multiclass",)
    convention = "fraction of samples with prediction == target"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        correct = (inputs.prediction == inputs.target).astype(np.float64)
        return SampleStats(dense=correct[:, None])  # [N, 1]

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


class BalancedAccuracy(SumMetric):
    """Mean recall over the classes present in the target (sklearn ``balanced_accuracy_score``;
    Brodersen et al., "The balanced accuracy and its posterior distribution", ICPR 2010)."""

    name = "balanced_accuracy"
    higher_is_better = True
    task = ("multiclass",)
    convention = "mean over classes present in the target of per-class recall"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        return class_count_stats(inputs)

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        tp, support, _ = class_counts(sums)
        present = support > 0
        return safe_divide(safe_divide(tp, support).sum(axis=1), present.sum(axis=1))


class PrecisionRecallF1(SumMetric):
    """Precision, recall or F1 averaged ``macro``, ``micro`` or ``weighted`` (sklearn
    ``precision_recall_fscore_support``, zero division = 0); see the module docstring."""

    higher_is_better = True
    task = ("multiclass", "multilabel")

    def __init__(self, stat: Stat, average: Average) -> None:
        self.stat: Stat = stat
        self.average: Average = average
        self.name = f"{stat}_{average}"
        labels = {
            "macro": "unweighted mean over classes present in target or prediction "
            "(multiclass) or over all labels (multilabel)",
            "micro": "counts pooled over classes",
            "weighted": "mean over classes weighted by support",
        }[average]
        self.convention = f"{stat}, {labels}; zero division = 0"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        if self.average == "micro" and inputs.task_type == "multiclass":
            return Accuracy().sample_stats(inputs)  # micro P = R = F1 = accuracy: same statistic
        return class_count_stats(inputs)

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        if self.average == "micro" and inputs.task_type == "multiclass":
            return Accuracy().from_sums(sums, inputs)
        all_labels = inputs.task_type == "multilabel"
        return averaged(*class_counts(sums), self.stat, self.average, all_labels=all_labels)


class BinaryPRF(SumMetric):
    """Precision, recall or F1 of class ``positive`` against the rest (sklearn
    ``precision_recall_fscore_support(average="binary", pos_label=positive)``, zero division =
    0)."""

    higher_is_better = True
    task = ("multiclass",)

    def __init__(self, stat: Stat, positive: int = 1) -> None:
        if isinstance(positive, bool) or not isinstance(positive, int) or positive < 0:
            raise MetricError(f"positive must be a class id >= 0, got {positive!r}")
        self.stat: Stat = stat
        self.positive = positive
        self.name = f"{stat}_binary"
        self.convention = f"{stat} of class {positive} vs the rest; zero division = 0"

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        if self.positive >= inputs.num_classes:
            raise MetricError(
                f"{self.name}: positive class {self.positive} but only "
                f"{inputs.num_classes} classes",
                fix=f"set {self.name}.positive to a class id below {inputs.num_classes}",
            )
        return class_count_stats(inputs)

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        tp, support, predicted = (x[:, self.positive] for x in class_counts(sums))
        return per_class(tp, support, predicted, self.stat)


class PerClassPRF(Metric):
    """Precision, recall or F1 of every class: ``{"0": value, "1": value, ...}``."""

    higher_is_better = True
    task = ("multiclass", "multilabel")
    scalar = False

    def __init__(self, stat: Stat) -> None:
        self.stat: Stat = stat
        self.name = f"{stat}_per_class"
        self.convention = f"{stat} of each class id 0..C-1 (str keys); zero division = 0"

    def value(self, inputs: MetricInputs) -> MetricValue:
        counts = class_counts(total_sums(class_count_stats(inputs)))
        values = per_class(*counts, self.stat)[0]
        return {str(c): float(v) for c, v in enumerate(values)}


def target_rank(scores: np.ndarray, target: np.ndarray, ties: Ties) -> np.ndarray:
    """0-based rank of each target's score among its row, int64 ``[N]``, ties broken by
    ``ties`` (module docstring): the classes scoring higher, plus the tied ones ranked before."""
    own = np.take_along_axis(scores, target[:, None], axis=1)  # [N, 1]
    higher = (scores > own).sum(axis=1)  # [N]
    if ties == "optimistic":
        return higher
    tied = scores == own  # [N, C], includes the target itself
    if ties == "pessimistic":
        return higher + tied.sum(axis=1) - 1
    after = np.arange(scores.shape[1])[None, :] > target[:, None]  # higher class ids
    return higher + (tied & after).sum(axis=1)


class TopKAccuracy(SumMetric):
    """Fraction of samples whose target ranks among the k highest scores (sklearn
    ``top_k_accuracy_score`` with the default ``ties="sklearn"``)."""

    higher_is_better = True
    task = ("multiclass",)

    def __init__(self, k: int = 5, ties: Ties = "sklearn") -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise MetricError(f"k must be an integer >= 1, got {k!r}", fix="e.g. k=5")
        if ties not in ("sklearn", "optimistic", "pessimistic"):
            raise MetricError(
                f"unknown ties {ties!r}", fix="use sklearn, optimistic or pessimistic"
            )
        self.k = k
        self.ties: Ties = ties
        self.name = f"top{k}_accuracy"
        self.convention = f"target among the {k} highest scores; ties: {ties}"

    def value(self, inputs: MetricInputs) -> MetricValue:
        if self.k >= inputs.num_classes:
            warnings.warn(
                f"{self.name}: k={self.k} >= {inputs.num_classes} classes, so every sample is "
                "a hit (1.0)",
                MetricWarning,
                stacklevel=2,
            )
        return super().value(inputs)

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        scores = inputs.require_scores(self.name)
        hit = target_rank(scores, inputs.target, self.ties) < self.k
        return SampleStats(dense=hit.astype(np.float64)[:, None])

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        assert sums.dense is not None
        return sums.dense[:, 0] / sums.count


class ConfusionMatrix(Metric):
    """C x C counts as a nested list: ``matrix[true][predicted]`` (sklearn ``confusion_matrix``
    with ``labels=range(C)``)."""

    name = "confusion_matrix"
    higher_is_better = True
    task = ("multiclass",)
    convention = "rows = true class, columns = predicted class, classes 0..C-1"
    scalar = False

    def value(self, inputs: MetricInputs) -> MetricValue:
        c = inputs.num_classes
        flat = np.bincount(inputs.target * c + inputs.prediction, minlength=c * c)
        return flat.reshape(c, c).tolist()  # [C * C] -> [C, C]


# --------------------------------------------------------------------------------------------
# Registration

_BOTH = ("multiclass", "multilabel")


@METRICS.register("accuracy")
def accuracy() -> Metric:
    """Fraction of correct predictions."""
    return Accuracy()


@METRICS.register("balanced_accuracy")
def balanced_accuracy() -> Metric:
    """Mean per-class recall over classes present in the target."""
    return BalancedAccuracy()


@METRICS.register("precision_macro")
def precision_macro() -> Metric:
    """Precision, unweighted mean over classes."""
    return PrecisionRecallF1("precision", "macro")


@METRICS.register("precision_micro")
def precision_micro() -> Metric:
    """Precision of counts pooled over classes."""
    return PrecisionRecallF1("precision", "micro")


@METRICS.register("precision_weighted")
def precision_weighted() -> Metric:
    """Precision, mean over classes weighted by support."""
    return PrecisionRecallF1("precision", "weighted")


@METRICS.register("recall_macro")
def recall_macro() -> Metric:
    """Recall, unweighted mean over classes."""
    return PrecisionRecallF1("recall", "macro")


@METRICS.register("recall_micro")
def recall_micro() -> Metric:
    """Recall of counts pooled over classes."""
    return PrecisionRecallF1("recall", "micro")


@METRICS.register("recall_weighted")
def recall_weighted() -> Metric:
    """Recall, mean over classes weighted by support."""
    return PrecisionRecallF1("recall", "weighted")


@METRICS.register("f1_macro")
def f1_macro() -> Metric:
    """F1, unweighted mean over classes."""
    return PrecisionRecallF1("f1", "macro")


@METRICS.register("f1_micro")
def f1_micro() -> Metric:
    """F1 of counts pooled over classes."""
    return PrecisionRecallF1("f1", "micro")


@METRICS.register("f1_weighted")
def f1_weighted() -> Metric:
    """F1, mean over classes weighted by support."""
    return PrecisionRecallF1("f1", "weighted")


@METRICS.register("precision_per_class")
def precision_per_class() -> Metric:
    """Precision of each class, as a dict."""
    return PerClassPRF("precision")


@METRICS.register("recall_per_class")
def recall_per_class() -> Metric:
    """Recall of each class, as a dict."""
    return PerClassPRF("recall")


@METRICS.register("f1_per_class")
def f1_per_class() -> Metric:
    """F1 of each class, as a dict."""
    return PerClassPRF("f1")


@METRICS.register("top5_accuracy")
def top5_accuracy(ties: Ties = "sklearn") -> Metric:
    """Fraction of samples whose target is among the 5 highest scores."""
    return TopKAccuracy(5, ties)


@METRICS.register("top_k_accuracy")
def top_k_accuracy(k: int = 5, ties: Ties = "sklearn") -> Metric:
    """Fraction of samples whose target is among the k highest scores (any k)."""
    return TopKAccuracy(k, ties)


@METRICS.register("precision_binary")
def precision_binary(positive: int = 1) -> Metric:
    """Precision of class ``positive`` against the rest."""
    return BinaryPRF("precision", positive)


@METRICS.register("recall_binary")
def recall_binary(positive: int = 1) -> Metric:
    """Recall of class ``positive`` against the rest."""
    return BinaryPRF("recall", positive)


@METRICS.register("f1_binary")
def f1_binary(positive: int = 1) -> Metric:
    """F1 of class ``positive`` against the rest."""
    return BinaryPRF("f1", positive)


@METRICS.register("confusion_matrix")
def confusion_matrix() -> Metric:
    """C x C counts, rows = true class, columns = predicted class."""
    return ConfusionMatrix()
