"""Ranking metrics of class scores: AUROC and average precision (AUPRC, mAP), one-vs-rest.

A class (or label) without positives has no AUROC and no average precision; which value the mean
over classes gives then is a *convention*, chosen with ``absent_class`` (a class without
negatives has no AUROC either and follows the same option):

- ``nan``: the mean is NaN (scikit-learn's AUROC);
- ``zero``: the class counts as 0 (scikit-learn's AP, torchmetrics' AUROC);
- ``drop``: the class is left out of the mean, with a warning (torchmetrics' AP).

Defaults: ``auroc`` and ``auprc`` as scikit-learn (``nan`` and ``zero``), ``map`` (multilabel)
as torchmetrics (``drop``). In a bootstrap resample a rare class may lose its positives; the
same convention applies there.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from polymodal.evaluate.metrics.base import Metric, WeightedMetric
from polymodal.evaluate.metrics.inputs import MetricError, MetricInputs, MetricValue, MetricWarning
from polymodal.evaluate.metrics.sums import safe_divide
from polymodal.registry import METRICS

if TYPE_CHECKING:  # polymodal.data.schema imports torch, which metrics do not need
    from polymodal.data.schema import TaskType

AbsentClass = Literal["drop", "zero", "nan"]
ABSENT_CLASS: tuple[AbsentClass, ...] = ("drop", "zero", "nan")

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
    label: int = 0


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
    labels = [1] if inputs.task_type == "multiclass" and scores.shape[1] == 2 else None
    for j, (score, positive) in enumerate(problems):
        order = np.argsort(score, kind="stable")
        ranked = score[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        columns.append(
            RankedColumn(
                order,
                positive[order].astype(np.float64),
                np.flatnonzero(positive[order]),
                None if len(starts) == len(score) else starts,
                j if labels is None else labels[j],
            )
        )
    return columns


def combine_classes(values: list[np.ndarray], absent_class: AbsentClass) -> np.ndarray:
    """Mean over classes of ``[R]`` arrays whose NaN entries are undefined classes, under the
    ``absent_class`` convention: ``drop`` ignores them (NaN if none is left), ``zero`` counts
    them as 0, ``nan`` makes the mean NaN."""
    stacked = np.stack(values, axis=1)  # [R, classes]
    defined = np.isfinite(stacked)
    if absent_class == "nan":
        return stacked.mean(axis=1)
    total = np.where(defined, stacked, 0.0).sum(axis=1)
    if absent_class == "zero":
        return total / stacked.shape[1]
    return safe_divide(total, defined.sum(axis=1), zero=np.nan)


def check_absent_class(value: str) -> AbsentClass:
    """``value`` if it is an ``absent_class`` convention; MetricError otherwise."""
    if value not in ABSENT_CLASS:
        raise MetricError(
            f"unknown absent_class {value!r}", fix=f"use one of: {', '.join(ABSENT_CLASS)}"
        )
    return value  # type: ignore[return-value]


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


class RankingMetric(WeightedMetric):
    """A macro mean over one-vs-rest problems of a per-column ranking metric, with the
    ``absent_class`` convention for the classes where it is undefined (module docstring)."""

    higher_is_better = True
    what = "defined"

    def __init__(self, absent_class: AbsentClass) -> None:
        self.absent_class = check_absent_class(absent_class)

    @staticmethod
    def column(column: RankedColumn, weights: np.ndarray) -> np.ndarray:  # pragma: no cover
        """``[R]`` values of one column for multiplicity rows ``weights [R, N]`` (NaN: none)."""
        raise NotImplementedError

    def prepare(self, inputs: MetricInputs) -> list[RankedColumn]:
        return ranked_columns(inputs, self.name)

    def from_weights(self, prepared: list[RankedColumn], weights: np.ndarray) -> np.ndarray:
        return combine_classes([self.column(c, weights) for c in prepared], self.absent_class)

    def undefined(self, inputs: MetricInputs) -> list[int]:
        """Classes / labels whose value is undefined on all of ``inputs``."""
        prepared = self.prepare(inputs)
        ones = np.ones((1, len(inputs)))
        return [c.label for c in prepared if not np.isfinite(self.column(c, ones)[0])]

    def value(self, inputs: MetricInputs) -> MetricValue:
        missing = self.undefined(inputs) if self.absent_class == "drop" else []
        if missing:
            warnings.warn(
                f"{self.name}: class(es) {missing} have no {self.what}: left out of the mean "
                "(absent_class=drop)",
                MetricWarning,
                stacklevel=2,
            )
        return super().value(inputs)

    def why_undefined(self, inputs: MetricInputs) -> str:
        missing = self.undefined(inputs)
        if not missing:
            return "no class has a defined value"
        return f"class(es) {missing} have no {self.what} (absent_class={self.absent_class})"


class AUROC(RankingMetric):
    """Area under the ROC curve, one-vs-rest, macro over classes (sklearn ``roc_auc_score`` with
    ``multi_class="ovr"``); binary: of class 1's score; multilabel: macro over labels.

    Resampled values come from sample multiplicities with one sort per class: exact
    Mann-Whitney counts, no loop over resamples.
    """

    name = "auroc"
    task = ("multiclass", "multilabel")
    what = "positives or no negatives"
    column = staticmethod(auroc_column)

    def __init__(self, absent_class: AbsentClass = "nan") -> None:
        super().__init__(absent_class)
        self.convention = (
            "one-vs-rest ROC AUC, macro over classes; binary: class 1; ties count 1/2; "
            f"a class without positives or negatives: absent_class={self.absent_class}"
        )


class AveragePrecision(RankingMetric):
    """Average precision (area under the precision-recall curve, step-wise), macro over classes or
    labels (sklearn ``average_precision_score``); binary: class 1."""

    what = "positives"
    column = staticmethod(average_precision_column)

    def __init__(
        self,
        name: str = "auprc",
        task: tuple[TaskType, ...] = ("multiclass", "multilabel"),
        absent_class: AbsentClass = "zero",
    ) -> None:
        super().__init__(absent_class)
        self.name = name
        self.task = task
        self.convention = (
            "average precision sum_k (R_k - R_{k-1}) P_k at distinct score thresholds, macro "
            f"over classes / labels; binary: class 1; a class without positives: "
            f"absent_class={self.absent_class}"
        )


@METRICS.register("auroc")
def auroc(absent_class: AbsentClass = "nan") -> Metric:
    """One-vs-rest ROC AUC, macro over classes (absent classes: NaN, as scikit-learn)."""
    return AUROC(absent_class)


@METRICS.register("auprc")
def auprc(absent_class: AbsentClass = "zero") -> Metric:
    """Average precision, macro over classes (absent classes: 0, as scikit-learn)."""
    return AveragePrecision("auprc", absent_class=absent_class)
