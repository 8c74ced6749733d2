"""Classification metrics: accuracy, balanced accuracy, precision / recall / F1, top-k, confusion
matrix, AUROC and average precision.

Conventions follow scikit-learn (the reference the tests check against):

- precision / recall / F1 use zero division = 0 (a class never predicted has precision 0);
- ``macro`` averages over the classes present in the target *or* the prediction (multiclass,
  scikit-learn's ``labels=None``) or over every label (multilabel);
- ``micro`` pools counts over classes (for multiclass it equals accuracy);
- ``weighted`` weights each class by its support (true count);
- ``balanced_accuracy`` is the mean recall over classes present in the target.

Precision / recall / F1 apply to multiclass and multilabel tasks (one prediction per label, 0/1);
the other metrics of this module to multiclass tasks, AUROC and AUPRC also to multilabel ones.

Accuracy, balanced accuracy, top-k accuracy and precision / recall / F1 are sum metrics whose
per-sample statistics take few values (a confusion-matrix cell, a hit or a miss), so they are
categorical (:meth:`~polymodal.evaluate.metrics.base.SumMetric.from_counts`): their bootstrap
draws multinomial cell counts, O(C^2) per resample instead of O(N)
(:mod:`polymodal.evaluate.stats.categorical`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from polymodal.evaluate.metrics.base import (
    KeyedStat,
    Metric,
    MetricInputs,
    MetricValue,
    SampleStats,
    SumMetric,
    Sums,
    WeightedMetric,
    safe_divide,
    total_sums,
)
from polymodal.registry import METRICS

if TYPE_CHECKING:  # polymodal.data.schema imports torch, which metrics do not need
    from polymodal.data.schema import TaskType

Stat = Literal["precision", "recall", "f1"]
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
        return class_count_stats(inputs)

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:
        all_labels = inputs.task_type == "multilabel"
        return averaged(*class_counts(sums), self.stat, self.average, all_labels=all_labels)


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


class TopKAccuracy(SumMetric):
    """Fraction of samples whose target is among the k highest scores (sklearn
    ``top_k_accuracy_score``); a tie with the target's score counts in the sample's favour."""

    higher_is_better = True
    task = ("multiclass",)

    def __init__(self, k: int = 5) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.name = f"top{k}_accuracy"
        self.convention = (
            f"target among the {k} highest scores (fewer than {k} classes score strictly higher)"
        )

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:
        scores = inputs.require_scores(self.name)
        own = np.take_along_axis(scores, inputs.target[:, None], axis=1)  # [N, 1]
        higher = (scores > own).sum(axis=1)  # [N]
        return SampleStats(dense=(higher < self.k).astype(np.float64)[:, None])

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
# Ranking metrics (AUROC, average precision), from sample multiplicities


@dataclass(frozen=True)
class RankedColumn:
    """One binary problem (one class vs rest) with its samples sorted by ascending score.

    Attributes:
        order: int64 ``[N]`` stable ascending order of the scores.
        positive: float64 ``[N]`` 1 for positives, in sorted order.
        positive_at: int64 ``[P]`` sorted positions of the positives.
        starts: int64 ``[G]`` start of each group of equal scores in sorted order, or None when
            all scores differ (then the formulas are evaluated at the positives only).
    """

    order: np.ndarray
    positive: np.ndarray
    positive_at: np.ndarray
    starts: np.ndarray | None


def ranked_columns(inputs: MetricInputs, metric: str) -> list[RankedColumn]:
    """The one-vs-rest problems: every class (multiclass, C > 2), class 1 (binary) or every label
    (multilabel), each with the score column of that class or label."""
    scores = inputs.require_scores(metric)
    if inputs.task_type == "multiclass":
        classes = [1] if scores.shape[1] == 2 else range(scores.shape[1])
        problems = [(scores[:, c], inputs.target == c) for c in classes]
    else:
        problems = [(scores[:, j], inputs.target[:, j] > 0.5) for j in range(scores.shape[1])]
    columns = []
    for score, positive in problems:
        order = np.argsort(score, kind="stable")
        ranked = score[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        columns.append(
            RankedColumn(
                order,
                positive[order].astype(np.float64),
                np.flatnonzero(positive[order]),
                None if len(starts) == len(score) else starts,
            )
        )
    return columns


def mean_defined(values: list[np.ndarray]) -> np.ndarray:
    """Mean over columns of ``[R]`` arrays, ignoring NaN (undefined) entries; NaN if none."""
    stacked = np.stack(values, axis=1)  # [R, columns]
    defined = np.isfinite(stacked)
    total = np.where(defined, stacked, 0.0).sum(axis=1)
    return safe_divide(total, defined.sum(axis=1), zero=np.nan)


def _grouped(column: RankedColumn, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and all samples per group of tied scores, ascending: ``[R, G]``."""
    assert column.starts is not None
    pos = np.add.reduceat(w * column.positive, column.starts, axis=1)
    return pos, np.add.reduceat(w, column.starts, axis=1)


def auroc_column(column: RankedColumn, weights: np.ndarray) -> np.ndarray:
    """ROC AUC per row of multiplicities ``weights [R, N]``: the Mann-Whitney probability that a
    positive outscores a negative, ties counting 1/2 (equal to the trapezoidal ROC area, as
    sklearn). NaN without positives or without negatives."""
    w = np.take(weights, column.order, axis=1)  # [R, N] in ascending score order
    if column.starts is not None:
        pos, total = _grouped(column, w)  # [R, G]
        neg = total - pos
        below = np.cumsum(neg, axis=1) - neg  # negatives strictly below each group
        wins = np.einsum("ij,ij->i", pos, below + 0.5 * neg)
        return safe_divide(wins, pos.sum(axis=1) * neg.sum(axis=1), zero=np.nan)
    pos = w[:, column.positive_at]  # [R, P]
    w[:, column.positive_at] = 0.0  # negatives only (w is a copy)
    neg_below = np.cumsum(w, axis=1)  # no ties: negatives at or below = strictly below
    wins = np.einsum("ij,ij->i", pos, neg_below[:, column.positive_at])
    return safe_divide(wins, pos.sum(axis=1) * neg_below[:, -1], zero=np.nan)


def average_precision_column(column: RankedColumn, weights: np.ndarray) -> np.ndarray:
    """Average precision per row, ``sum_k (R_k - R_{k-1}) P_k`` over descending distinct score
    thresholds (sklearn ``average_precision_score``). NaN without positives."""
    w = np.take(weights, column.order, axis=1)  # [R, N] in ascending score order
    if column.starts is not None:
        pos, total = _grouped(column, w)  # [R, G]
        total_cum = np.cumsum(total, axis=1)
    else:  # every group is one sample: only the positives' groups add to the sum
        pos = w[:, column.positive_at]  # [R, P]
        total, total_cum = pos, np.cumsum(w, axis=1)[:, column.positive_at]
    n_pos = pos.sum(axis=1, keepdims=True)
    tp_above = n_pos - np.cumsum(pos, axis=1) + pos  # positives scoring >= the threshold
    all_above = w.sum(axis=1, keepdims=True) - total_cum + total  # samples scoring >= it
    precision = safe_divide(tp_above, all_above)
    return safe_divide(np.einsum("ij,ij->i", pos, precision), n_pos[:, 0], zero=np.nan)


class AUROC(WeightedMetric):
    """Area under the ROC curve, one-vs-rest, macro over classes (sklearn ``roc_auc_score`` with
    ``multi_class="ovr"``); binary: of class 1's score; multilabel: macro over labels.

    A class without positives or without negatives (possible in a resample) is left out of the
    mean. Resampled values come from sample multiplicities with one sort per class: exact
    Mann-Whitney counts, no loop over resamples.
    """

    name = "auroc"
    higher_is_better = True
    task = ("multiclass", "multilabel")
    convention = (
        "one-vs-rest ROC AUC, macro over classes that have positives and negatives; "
        "binary: class 1; ties count 1/2"
    )

    def prepare(self, inputs: MetricInputs) -> list[RankedColumn]:
        return ranked_columns(inputs, self.name)

    def from_weights(self, prepared: list[RankedColumn], weights: np.ndarray) -> np.ndarray:
        return mean_defined([auroc_column(c, weights) for c in prepared])


class AveragePrecision(WeightedMetric):
    """Average precision (area under the precision-recall curve, step-wise), macro over classes or
    labels that have positives (sklearn ``average_precision_score``); binary: class 1."""

    higher_is_better = True

    def __init__(
        self, name: str = "auprc", task: tuple[TaskType, ...] = ("multiclass", "multilabel")
    ) -> None:
        self.name = name
        self.task = task
        self.convention = (
            "average precision sum_k (R_k - R_{k-1}) P_k at distinct score thresholds, macro "
            "over classes / labels with positives; binary: class 1"
        )

    def prepare(self, inputs: MetricInputs) -> list[RankedColumn]:
        return ranked_columns(inputs, self.name)

    def from_weights(self, prepared: list[RankedColumn], weights: np.ndarray) -> np.ndarray:
        return mean_defined([average_precision_column(c, weights) for c in prepared])


# --------------------------------------------------------------------------------------------
# Registration

_BOTH = ("multiclass", "multilabel")


@METRICS.register("accuracy", higher_is_better=True, task=("multiclass",))
def accuracy() -> Metric:
    """Fraction of correct predictions."""
    return Accuracy()


@METRICS.register("balanced_accuracy", higher_is_better=True, task=("multiclass",))
def balanced_accuracy() -> Metric:
    """Mean per-class recall over classes present in the target."""
    return BalancedAccuracy()


@METRICS.register("precision_macro", higher_is_better=True, task=_BOTH)
def precision_macro() -> Metric:
    """Precision, unweighted mean over classes."""
    return PrecisionRecallF1("precision", "macro")


@METRICS.register("precision_micro", higher_is_better=True, task=_BOTH)
def precision_micro() -> Metric:
    """Precision of counts pooled over classes."""
    return PrecisionRecallF1("precision", "micro")


@METRICS.register("precision_weighted", higher_is_better=True, task=_BOTH)
def precision_weighted() -> Metric:
    """Precision, mean over classes weighted by support."""
    return PrecisionRecallF1("precision", "weighted")


@METRICS.register("recall_macro", higher_is_better=True, task=_BOTH)
def recall_macro() -> Metric:
    """Recall, unweighted mean over classes."""
    return PrecisionRecallF1("recall", "macro")


@METRICS.register("recall_micro", higher_is_better=True, task=_BOTH)
def recall_micro() -> Metric:
    """Recall of counts pooled over classes."""
    return PrecisionRecallF1("recall", "micro")


@METRICS.register("recall_weighted", higher_is_better=True, task=_BOTH)
def recall_weighted() -> Metric:
    """Recall, mean over classes weighted by support."""
    return PrecisionRecallF1("recall", "weighted")


@METRICS.register("f1_macro", higher_is_better=True, task=_BOTH)
def f1_macro() -> Metric:
    """F1, unweighted mean over classes."""
    return PrecisionRecallF1("f1", "macro")


@METRICS.register("f1_micro", higher_is_better=True, task=_BOTH)
def f1_micro() -> Metric:
    """F1 of counts pooled over classes."""
    return PrecisionRecallF1("f1", "micro")


@METRICS.register("f1_weighted", higher_is_better=True, task=_BOTH)
def f1_weighted() -> Metric:
    """F1, mean over classes weighted by support."""
    return PrecisionRecallF1("f1", "weighted")


@METRICS.register("precision_per_class", higher_is_better=True, task=_BOTH)
def precision_per_class() -> Metric:
    """Precision of each class, as a dict."""
    return PerClassPRF("precision")


@METRICS.register("recall_per_class", higher_is_better=True, task=_BOTH)
def recall_per_class() -> Metric:
    """Recall of each class, as a dict."""
    return PerClassPRF("recall")


@METRICS.register("f1_per_class", higher_is_better=True, task=_BOTH)
def f1_per_class() -> Metric:
    """F1 of each class, as a dict."""
    return PerClassPRF("f1")


@METRICS.register("top5_accuracy", higher_is_better=True, task=("multiclass",))
def top5_accuracy() -> Metric:
    """Fraction of samples whose target is among the 5 highest scores."""
    return TopKAccuracy(5)


@METRICS.register("confusion_matrix", higher_is_better=True, task=("multiclass",))
def confusion_matrix() -> Metric:
    """C x C counts, rows = true class, columns = predicted class."""
    return ConfusionMatrix()


@METRICS.register("auroc", higher_is_better=True, task=_BOTH)
def auroc() -> Metric:
    """One-vs-rest ROC AUC, macro over classes."""
    return AUROC()


@METRICS.register("auprc", higher_is_better=True, task=_BOTH)
def auprc() -> Metric:
    """Average precision (area under the precision-recall curve), macro over classes."""
    return AveragePrecision("auprc")
