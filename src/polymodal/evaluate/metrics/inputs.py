"""What every metric reads: a predictions table as numpy arrays (:class:`MetricInputs`).

A predictions table (see :mod:`polymodal.evaluate.predict`) becomes a :class:`MetricInputs` of
numpy arrays, one row per sample; :func:`inputs_from_table` reads and checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from polymodal.errors import DataError, PolymodalError

if TYPE_CHECKING:  # polymodal.data.schema imports torch, which metrics do not need
    from polymodal.data.schema import TaskType

MetricValue: TypeAlias = float | dict[str, float] | list[list[int]]
"""What :meth:`Metric.compute` returns: a number, a per-class dict, or a matrix (nested list)."""

TASK_TYPES: tuple[TaskType, ...] = ("multiclass", "multilabel", "regression")


class MetricError(PolymodalError, ValueError):
    """A metric cannot be computed from these inputs (wrong task, missing scores, bad indices)."""


class MissingScoresError(MetricError):
    """A metric needs the scores column (class probabilities) and the table has none."""


class MetricWarning(UserWarning):
    """A metric's value follows a convention worth knowing on these inputs (a class left out,
    k >= the number of classes); the value is still the documented one."""


@dataclass(frozen=True, eq=False)
class MetricInputs:
    """The arrays every metric reads, one row per sample (N samples).

    ============  =====================  =======================  ========================
    field         multiclass             multilabel               regression
    ============  =====================  =======================  ========================
    ``target``    int64 ``[N]`` class    float64 ``[N, L]`` 0/1   float64 ``[N, K]``
    ``prediction``  int64 ``[N]`` class  float64 ``[N, L]`` 0/1   float64 ``[N, K]``
    ``scores``    float64 ``[N, C]``     float64 ``[N, L]``       float64 ``[N, K]``
                  probabilities          probabilities            the predicted values
    ============  =====================  =======================  ========================

    ``scores`` may be None; metrics that need it (AUROC, calibration) then raise
    :class:`MetricError`. ``n_classes`` fixes C for multiclass inputs without scores (else the
    largest class id + 1). Arrays are converted and checked on construction.
    """

    task_type: TaskType
    target: np.ndarray
    prediction: np.ndarray
    scores: np.ndarray | None = None
    n_classes: int | None = None

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise MetricError(
                f"unknown task type {self.task_type!r}", fix=f"use one of: {', '.join(TASK_TYPES)}"
            )
        if self.task_type == "multiclass":
            target = _as_class_ids(self.target, "target")
            prediction = _as_class_ids(self.prediction, "prediction")
        else:
            target = _as_matrix(self.target, "target")
            prediction = _as_matrix(self.prediction, "prediction")
        scores = None if self.scores is None else _as_matrix(self.scores, "scores")
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "prediction", prediction)
        object.__setattr__(self, "scores", scores)
        self._check_shapes()

    def _check_shapes(self) -> None:
        n = self.target.shape[0]
        if n == 0:
            raise MetricError("no samples to compute a metric on", fix="check the table's rows")
        shapes = {"target": self.target.shape, "prediction": self.prediction.shape}
        if self.scores is not None:
            shapes["scores"] = self.scores.shape
        if any(s[0] != n for s in shapes.values()):
            raise MetricError(f"inputs disagree on the number of samples: {shapes}")
        if self.task_type != "multiclass" and self.prediction.shape != self.target.shape:
            raise MetricError(f"target and prediction shapes differ: {shapes}")
        c = self.num_classes
        if self.task_type == "multiclass" and self.n_classes not in (None, c):
            raise MetricError(f"n_classes={self.n_classes} but scores have {c} columns")
        if self.task_type == "multiclass":
            for name in ("target", "prediction"):
                values = getattr(self, name)
                if values.min() < 0 or values.max() >= c:
                    raise MetricError(
                        f"{name} has class ids outside [0, {c})",
                        fix="make scores one probability per class, in class-id order",
                    )
        elif self.scores is not None and self.scores.shape[1] != c:
            raise MetricError(f"scores have {self.scores.shape[1]} columns for {c} outputs")

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @property
    def num_classes(self) -> int:
        """C (multiclass: scores' width, else the largest class id + 1), L or K."""
        if self.task_type != "multiclass":
            return int(self.target.shape[1])
        if self.scores is not None:
            return int(self.scores.shape[1])
        if self.n_classes is not None:
            return int(self.n_classes)
        return int(max(self.target.max(), self.prediction.max())) + 1

    def require_scores(self, metric: str) -> np.ndarray:
        """``scores``, or a :class:`MetricError` naming ``metric`` when the table has none."""
        if self.scores is None:
            raise MissingScoresError(
                f"metric {metric!r} needs the scores column (probabilities per class)",
                fix="evaluate with a model whose predictions table has scores",
            )
        return self.scores

    def take(self, index: np.ndarray) -> MetricInputs:
        """The inputs of samples ``index`` (int ``[M]``, repeats allowed), classes unchanged."""
        return MetricInputs(
            self.task_type,
            self.target[index],
            self.prediction[index],
            None if self.scores is None else self.scores[index],
            n_classes=self.num_classes,
        )

    def mix(self, other: MetricInputs, take_other: np.ndarray) -> MetricInputs:
        """Predictions of ``other`` where ``take_other`` (bool ``[N]``), of ``self`` elsewhere."""
        check_same_samples(self, other)
        pick = take_other if self.prediction.ndim == 1 else take_other[:, None]
        scores = None
        if self.scores is not None and other.scores is not None:
            scores = np.where(take_other[:, None], other.scores, self.scores)
        return MetricInputs(
            self.task_type,
            self.target,
            np.where(pick, other.prediction, self.prediction),
            scores,
            n_classes=self.num_classes,
        )


def _as_class_ids(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise MetricError(f"multiclass {name} must be one int per sample, got shape {array.shape}")
    if array.dtype == object:  # python ints in an object column
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise MetricError(f"multiclass {name} must hold ints, not lists or text") from None
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise MetricError(f"multiclass {name} has non-integer values")
    elif array.dtype.kind not in "iub":
        raise MetricError(f"multiclass {name} must hold ints, got dtype {array.dtype}")
    return array.astype(np.int64)


def _as_matrix(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]  # [N] -> [N, 1]
    if array.ndim != 2:
        raise MetricError(f"{name} must be [N] or [N, K], got shape {array.shape}")
    return array


def check_same_samples(a: MetricInputs, b: MetricInputs) -> None:
    """MetricError unless ``a`` and ``b`` are two runs on the same samples (same targets)."""
    if a.task_type != b.task_type or a.target.shape != b.target.shape:
        raise MetricError(
            "the two runs differ in task or number of samples",
            fix="pair predictions tables of the same split, aligned by id",
        )
    if not np.array_equal(a.target, b.target):
        raise MetricError(
            "the two runs have different targets, so they are not aligned sample by sample",
            fix="align both tables by id (e.g. merge on 'id') before pairing them",
        )


def stack_column(column: pd.Series, name: str, where: str) -> np.ndarray:
    """A column of equal-length lists (or scalars) as float64 ``[N, K]``."""
    values = column.to_numpy()
    if len(values) and np.isscalar(values[0]):
        return np.asarray(values, dtype=np.float64)[:, None]
    try:
        rows = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
    except (TypeError, ValueError) as exc:
        raise DataError(f"column {name!r} is not numeric: {exc}", where=where) from None
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise DataError(
            f"column {name!r} has lists of different lengths {sorted(widths)}",
            where=where,
            fix="every row must have one value per class / label / target",
        )
    return np.stack(rows)


def inputs_from_table(df: pd.DataFrame, task_type: TaskType) -> MetricInputs:
    """Read a predictions table into :class:`MetricInputs`.

    Args:
        df: a predictions table with columns ``target``, ``prediction`` and (optional) ``scores``.
        task_type: ``multiclass``, ``multilabel`` or ``regression``.

    Raises:
        DataError: a column is missing, has missing values or lists of unequal lengths.
    """
    where = "predictions table"
    missing = [c for c in ("target", "prediction") if c not in df.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}",
            where=where,
            fix="compute metrics from a table written by polymodal.evaluate.predict",
        )
    if task_type not in TASK_TYPES:
        raise MetricError(f"unknown task type {task_type!r}", fix=f"use one of {TASK_TYPES}")
    for name in ("target", "prediction"):
        if df[name].isna().any():
            raise DataError(
                f"column {name!r} has {int(df[name].isna().sum())} missing values",
                where=where,
                fix="metrics need a target and a prediction for every row (labelled split)",
            )
    scores = None
    if "scores" in df.columns:
        scores = stack_column(df["scores"], "scores", where)
    if task_type == "multiclass":
        target = df["target"].to_numpy()
        prediction = df["prediction"].to_numpy()
    else:
        target = stack_column(df["target"], "target", where)
        prediction = stack_column(df["prediction"], "prediction", where)
    return MetricInputs(task_type, target, prediction, scores)
