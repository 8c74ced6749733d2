"""The metric contract: inputs read from a predictions table, and metrics computed from them.

A predictions table (see :mod:`polymodal.evaluate.predict`) becomes a :class:`MetricInputs` of
numpy arrays, one row per sample. A :class:`Metric` computes one value from it, and the same value
on many bootstrap resamples at once (:meth:`Metric.compute_resampled`, an int ``[R, M]`` array of
sample positions per resample), which is what confidence intervals and paired tests need.

Most metrics depend on the samples only through *sums of per-sample statistics* (per-class true
positive counts, squared errors, calibration-bin residuals): they derive from
:class:`SumMetric`, whose resampled values come from a gather-and-sum per statistic column,
``bincount`` of keyed counts (one per row for long rows, which keeps it in cache) or one matrix
product for wide statistics, never from a metric computation per resample. The same metrics
have a count form (:meth:`SumMetric.category_codes`, :meth:`SumMetric.from_counts`): samples
with equal statistics form a category, and the metric of any sample set is a function of its
counts per category, which lets the bootstrap draw K multinomial counts per resample instead of
N indices (:mod:`polymodal.evaluate.stats.categorical`). Ranking metrics (AUROC, average precision,
equal-mass ECE) derive from :class:`WeightedMetric`: the value of a resample is a function of how
many times each sample occurs in it, computed for a chunk of resamples at once. The rest fall back
to a documented Python loop over resamples (:meth:`Metric.resampled_rows`).

Example::

    table = pd.read_parquet("run/predictions.parquet")
    compute_metrics(table, "multiclass")                   # the default metrics of the task
    compute_metrics(table, "multiclass", ["f1_weighted", "ece"])
    metric = METRICS.create("accuracy")
    inputs = inputs_from_table(table, "multiclass")
    metric.compute_resampled(inputs, rng.integers(0, len(inputs), (1000, len(inputs))))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from polymodal.errors import DataError, PolymodalError
from polymodal.registry import METRICS

if TYPE_CHECKING:  # polymodal.data.schema imports torch, which metrics do not need
    from polymodal.data.schema import TaskType

MetricValue: TypeAlias = float | dict[str, float] | list[list[int]]
"""What :meth:`Metric.compute` returns: a number, a per-class dict, or a matrix (nested list)."""

TASK_TYPES: tuple[TaskType, ...] = ("multiclass", "multilabel", "regression")

CHUNK_ELEMENTS = 1 << 22
"""Elements (resamples x samples) handled at once by the vectorised resampling: about 32 MiB."""


class MetricError(PolymodalError, ValueError):
    """A metric cannot be computed from these inputs (wrong task, missing scores, bad indices)."""


# --------------------------------------------------------------------------------------------
# Inputs


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
            raise MetricError(
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


def _stack_column(column: pd.Series, name: str, where: str) -> np.ndarray:
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
        scores = _stack_column(df["scores"], "scores", where)
    if task_type == "multiclass":
        target = df["target"].to_numpy()
        prediction = df["prediction"].to_numpy()
    else:
        target = _stack_column(df["target"], "target", where)
        prediction = _stack_column(df["prediction"], "prediction", where)
    return MetricInputs(task_type, target, prediction, scores)


# --------------------------------------------------------------------------------------------
# Resampling helpers


def check_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """``indices`` as int64 ``[R, M]`` with every value in ``[0, n)``; MetricError otherwise."""
    array = np.asarray(indices)
    if array.ndim != 2 or array.dtype.kind not in "iu":
        raise MetricError(
            f"resample indices must be an int array [R, M], got {array.dtype} {array.shape}"
        )
    array = array.astype(np.int64, copy=False)
    # one pass: as unsigned, a negative index is >= 2^63, so max() >= n catches both ends
    if array.size and array.view(np.uint64).max() >= n:
        raise MetricError(f"resample indices must lie in [0, {n})")
    return array


def row_chunks(n_rows: int, row_width: int) -> Iterator[slice]:
    """Slices of ``n_rows`` rows with at most :data:`CHUNK_ELEMENTS` elements each (>= 1 row)."""
    step = max(1, CHUNK_ELEMENTS // max(1, row_width))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


ROW_BINCOUNT_FROM = 4096
"""Rows of at least this many entries are counted one ``bincount`` per row, shorter ones all in
one offset ``bincount``. A row's keys and count table then stay in cache: measured 2-3x faster
on rows of 100k (41 rows: multiplicities 19 vs 44 ms, 101 keys 27 vs 85 ms), while for short
rows the per-row call overhead dominates."""


def multiplicities(indices: np.ndarray, n: int) -> np.ndarray:
    """float64 ``[R, n]``: how many times each sample occurs in each row of ``indices [R, M]``."""
    r, m = indices.shape
    if m < ROW_BINCOUNT_FROM:
        return offset_bincount(indices, n, None).astype(np.float64)
    out = np.empty((r, n), dtype=np.float64)
    for i, row in enumerate(indices):  # [M] positions of one row
        out[i] = np.bincount(row, minlength=n)
    return out


def offset_bincount(keys: np.ndarray, n_keys: int, weights: np.ndarray | None) -> np.ndarray:
    """Per-row counts (or weighted sums) of ``keys [R, M]`` in ``[0, n_keys)`` -> ``[R, n_keys]``.

    Each row ``r`` is shifted by ``r * n_keys`` so one ``bincount`` serves every row.
    """
    r = keys.shape[0]
    flat = (keys + (np.arange(r, dtype=np.int64) * n_keys)[:, None]).ravel()  # [R * M]
    w = None if weights is None else weights.ravel()
    return np.bincount(flat, weights=w, minlength=r * n_keys).reshape(r, n_keys)


# --------------------------------------------------------------------------------------------
# Metrics


class Metric:
    """A metric computed from :class:`MetricInputs`.

    Attributes:
        name: the registered name.
        higher_is_better: direction (used by reports and paired comparisons).
        task: the task types the metric applies to.
        convention: human text naming the convention (averaging, zero division, ties, bins).
        scalar: False for per-class dicts and matrices, which have no resampled value.
    """

    name: str = ""
    higher_is_better: bool = True
    task: tuple[TaskType, ...] = ()
    convention: str = ""
    scalar: bool = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def check(self, inputs: MetricInputs) -> None:
        """MetricError unless ``inputs`` is of a task type this metric applies to."""
        if not isinstance(inputs, MetricInputs):
            raise MetricError(f"metric {self.name!r} takes MetricInputs, got {type(inputs)}")
        if inputs.task_type not in self.task:
            raise MetricError(
                f"metric {self.name!r} applies to {' / '.join(self.task)} tasks, "
                f"not {inputs.task_type}",
                fix=f"pick metrics of the task, e.g. default_metrics({inputs.task_type!r})",
            )

    def compute(self, inputs: MetricInputs) -> MetricValue:
        """The metric on all N samples of ``inputs``."""
        self.check(inputs)
        return self.value(inputs)

    def value(self, inputs: MetricInputs) -> MetricValue:  # pragma: no cover - abstract
        """The metric on already checked inputs."""
        raise NotImplementedError

    def _check_scalar(self) -> None:
        if not self.scalar:
            raise MetricError(
                f"metric {self.name!r} is not a single number, so it has no resampled value",
                fix="resample a scalar metric (e.g. f1_macro instead of f1_per_class)",
            )

    def compute_resampled(self, inputs: MetricInputs, indices: np.ndarray) -> np.ndarray:
        """The metric on each resample: float64 ``[R]``, entry r = compute(samples indices[r]).

        Args:
            inputs: N samples.
            indices: int ``[R, M]``, each row a multiset of sample positions in ``[0, N)``
                (M = N for bootstrap resamples; smaller for jackknife rows).
        """
        self.check(inputs)
        self._check_scalar()
        indices = check_indices(indices, len(inputs))
        kernel = self.resampler(inputs)
        out = np.empty(indices.shape[0], dtype=np.float64)
        for rows in row_chunks(indices.shape[0], max(indices.shape[1], len(inputs))):
            out[rows] = kernel(indices[rows])
        return out

    def compute_mixed(
        self, inputs_a: MetricInputs, inputs_b: MetricInputs, take_b: np.ndarray
    ) -> np.ndarray:
        """The metric on runs mixed from two aligned runs: float64 ``[R]``.

        Args:
            inputs_a: run A on N samples.
            inputs_b: run B on the same N samples in the same order (same targets).
            take_b: bool ``[R, N]``; row r takes sample i from B where True, from A elsewhere.
        """
        self.check(inputs_a)
        self.check(inputs_b)
        self._check_scalar()
        check_same_samples(inputs_a, inputs_b)
        take_b = np.asarray(take_b, dtype=bool)
        if take_b.ndim != 2 or take_b.shape[1] != len(inputs_a):
            raise MetricError(f"take_b must be bool [R, {len(inputs_a)}], got {take_b.shape}")
        kernel = self.mixer(inputs_a, inputs_b)
        out = np.empty(take_b.shape[0], dtype=np.float64)
        for rows in row_chunks(take_b.shape[0], take_b.shape[1]):
            out[rows] = kernel(take_b[rows])
        return out

    def resampler(self, inputs: MetricInputs) -> Callable[[np.ndarray], np.ndarray]:
        """A function of a chunk of resample indices ``[r, M]`` giving ``[r]`` values.

        The fallback here is a Python loop: one :meth:`value` per resample. It is exact but
        costs R full computations; subclasses replace it with a vectorised kernel.
        """
        return lambda idx: self.resampled_rows(inputs, idx)

    def resampled_rows(self, inputs: MetricInputs, idx: np.ndarray) -> np.ndarray:
        """The loop fallback: :meth:`value` of ``inputs.take(row)`` for each row of ``idx``."""
        return np.array([float(self.value(inputs.take(row))) for row in idx], dtype=np.float64)

    def mixer(
        self, inputs_a: MetricInputs, inputs_b: MetricInputs
    ) -> Callable[[np.ndarray], np.ndarray]:
        """Like :meth:`resampler` for ``take_b`` chunks; fallback: one value per mixed run."""

        def loop(take: np.ndarray) -> np.ndarray:
            values = [float(self.value(inputs_a.mix(inputs_b, row))) for row in take]
            return np.array(values, dtype=np.float64)

        return loop


@dataclass(frozen=True)
class KeyedStat:
    """A per-sample statistic that adds ``weight`` (1 when None) to bin ``keys[i]``.

    ``keys`` is int64 ``[N]`` in ``[0, n_keys]``; key ``n_keys`` means "adds nothing" (e.g. a
    wrong prediction adds no true positive). Sums are ``[R, n_keys]``.
    """

    keys: np.ndarray
    n_keys: int
    weights: np.ndarray | None = None


@dataclass(frozen=True)
class SampleStats:
    """Per-sample sufficient statistics: ``dense`` float64 ``[N, k]`` and keyed counts."""

    dense: np.ndarray | None = None
    keyed: tuple[KeyedStat, ...] = ()


@dataclass(frozen=True)
class Sums:
    """Sums of :class:`SampleStats` over each of R sample sets.

    Attributes:
        count: float64 ``[R]`` samples per set.
        dense: float64 ``[R, k]`` (None when the stats have no dense part).
        keyed: one ``[R, n_keys]`` array per keyed statistic.
    """

    count: np.ndarray
    dense: np.ndarray | None
    keyed: tuple[np.ndarray, ...]


def total_sums(stats: SampleStats) -> Sums:
    """The sums over all samples (R = 1)."""
    n = (
        len(stats.dense)
        if stats.dense is not None
        else len(stats.keyed[0].keys)  # a stat has a dense or a keyed part
    )
    dense = None if stats.dense is None else stats.dense.sum(axis=0, keepdims=True)
    keyed = tuple(
        np.bincount(k.keys, weights=k.weights, minlength=k.n_keys + 1)[None, : k.n_keys]
        for k in stats.keyed
    )
    return Sums(np.array([float(n)]), dense, keyed)


_GATHER_COLUMNS = 4
"""Up to this many dense columns, sums gather and add up each column over the index rows; beyond
it one matrix product of the multiplicities ``[R, N]`` with the stats ``[N, k]`` costs less.

Measured on 41 rows x 100k indices (2 CPU cores, best of 15): 1 column: gather 15 ms, product
~100 ms; 3 columns: 22 vs 31 ms; 5 columns: 36 vs 31 ms; 15 columns: 128 vs 38 ms; 30
columns: 220 vs 40 ms (the product's cost barely grows with k)."""


def resampled_sums(stats: SampleStats, indices: np.ndarray, n: int) -> Sums:
    """The sums over each row of ``indices [R, M]`` (positions in ``[0, n)``)."""
    r, m = indices.shape
    dense = None
    if stats.dense is not None and stats.dense.shape[1] <= _GATHER_COLUMNS:
        columns = np.ascontiguousarray(stats.dense.T)  # [k, N]
        dense = np.stack([np.take(c, indices).sum(axis=1) for c in columns], axis=1)  # [R, k]
    elif stats.dense is not None:
        dense = multiplicities(indices, n) @ stats.dense  # [R, N] @ [N, k] -> [R, k]
    keyed = tuple(row_bincounts(k, indices) for k in stats.keyed)
    return Sums(np.full(r, float(m)), dense, keyed)


def row_bincounts(stat: KeyedStat, indices: np.ndarray) -> np.ndarray:
    """The sums of ``stat`` over each row of ``indices [R, M]``: ``[R, n_keys]`` (per row or
    offset ``bincount`` as :data:`ROW_BINCOUNT_FROM` says; the same sums either way)."""
    width = stat.n_keys + 1
    if indices.shape[1] < ROW_BINCOUNT_FROM:
        weights = None if stat.weights is None else stat.weights[indices]
        return offset_bincount(stat.keys[indices], width, weights)[:, : stat.n_keys]
    out = np.empty((indices.shape[0], width), dtype=np.int64 if stat.weights is None else float)
    for r, row in enumerate(indices):  # [M] positions of one row
        weights = None if stat.weights is None else stat.weights[row]
        out[r] = np.bincount(stat.keys[row], weights, minlength=width)
    return out[:, : stat.n_keys]


def mixed_sums(a: SampleStats, b: SampleStats, take_b: np.ndarray) -> Sums:
    """The sums over each row of samples taken from ``b`` where ``take_b [R, N]``, else ``a``."""
    r, n = take_b.shape
    dense = None
    if a.dense is not None and b.dense is not None:
        base = a.dense.sum(axis=0, keepdims=True)  # [1, k]
        dense = base + take_b.astype(np.float64) @ (b.dense - a.dense)  # [R, k]
    keyed = []
    for ka, kb in zip(a.keyed, b.keyed, strict=True):
        keys = np.where(take_b, kb.keys[None, :], ka.keys[None, :])  # [R, N]
        weights = None
        if ka.weights is not None and kb.weights is not None:
            weights = np.where(take_b, kb.weights[None, :], ka.weights[None, :])
        keyed.append(offset_bincount(keys, ka.n_keys + 1, weights)[:, : ka.n_keys])
    return Sums(np.full(r, float(n)), dense, tuple(keyed))


# --------------------------------------------------------------------------------------------
# Categories of samples with equal statistics (the count form of a SumMetric)


def _column_codes(column: np.ndarray) -> tuple[np.ndarray, int]:
    """``column [N]`` as int64 codes in ``[0, width)``, equal codes for equal values, and width.

    Integer-valued columns of a small range (keys, 0/1 flags, counts) map by offset in O(N);
    other values go through ``np.unique`` (a sort).
    """
    n = column.shape[0]
    if column.dtype == bool:
        column = column.astype(np.int64)
    low, high = column.min(), column.max()
    small = bool(np.isfinite(low) and np.isfinite(high) and high - low < 4 * n + 64)
    if small and (column.dtype.kind in "biu" or np.array_equal(column, np.rint(column))):
        return (column - low).astype(np.int64), int(high - low) + 1
    _, inverse = np.unique(column, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    return inverse, int(inverse.max()) + 1


def _compact(codes: np.ndarray, bound: int) -> tuple[np.ndarray, int]:
    """Codes ``[N]`` in ``[0, bound)`` renumbered ``0 .. K-1`` (order kept), and K."""
    if bound <= 4 * codes.shape[0] + 64:  # O(N + bound) by a presence table
        present = np.bincount(codes, minlength=bound) > 0
        return (np.cumsum(present) - 1)[codes], int(np.count_nonzero(present))
    kept, inverse = np.unique(codes, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), int(kept.size)


def distinct_rows(columns: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, int]:
    """Category codes of N rows given column by column: equal codes iff equal in every column.

    Returns:
        ``(codes int64 [N] in [0, K), K)``, categories numbered in lexicographic order of the
        rows. Once more than N / 2 rows are distinct it returns ``(arange(N), N)``: every sample
        its own category, which is as exact and costs no more.
    """
    codes, count = np.zeros(n, dtype=np.int64), 1
    for column in columns:
        values, width = _column_codes(column)
        codes, count = _compact(codes * width + values, count * width)
        if count > n // 2 and count > 1:
            return np.arange(n, dtype=np.int64), n
    return codes, count


def take_stats(stats: SampleStats, rows: np.ndarray) -> SampleStats:
    """The statistics of samples ``rows`` (int ``[M]``)."""
    dense = None if stats.dense is None else stats.dense[rows]
    keyed = tuple(
        KeyedStat(k.keys[rows], k.n_keys, None if k.weights is None else k.weights[rows])
        for k in stats.keyed
    )
    return SampleStats(dense, keyed)


@dataclass(frozen=True)
class StatCategories:
    """Samples grouped by equal per-sample statistics.

    Attributes:
        codes: int64 ``[N]`` category of each sample, in ``[0, K)``.
        stats: the statistics of one sample of each category (K rows, in category order);
            every sample of category c has exactly these statistics.
        count: K.
    """

    codes: np.ndarray
    stats: SampleStats
    count: int


def stat_categories(stats: SampleStats, n: int) -> StatCategories:
    """Group N samples by equal statistics (dense columns, keys and key weights)."""
    columns: list[np.ndarray] = [] if stats.dense is None else list(stats.dense.T)
    for k in stats.keyed:
        columns.extend([k.keys] if k.weights is None else [k.keys, k.weights])
    codes, count = distinct_rows(columns, n)
    one = np.empty(count, dtype=np.int64)
    one[codes] = np.arange(n, dtype=np.int64)  # any sample of each category: all are equal
    return StatCategories(codes, take_stats(stats, one), count)


def category_sums(stats: SampleStats, counts: np.ndarray) -> Sums:
    """Sums over R sample sets holding ``counts [R, K]`` samples of each category, whose
    statistics are ``stats`` (K rows). Exact for integer statistics (counts below 2^53)."""
    weight = counts.astype(np.float64)  # [R, K]
    dense = None if stats.dense is None else weight @ stats.dense  # [R, K] @ [K, k] -> [R, k]
    keyed = tuple(
        offset_bincount(
            np.broadcast_to(k.keys, weight.shape),
            k.n_keys + 1,
            weight if k.weights is None else weight * k.weights,
        )[:, : k.n_keys]
        for k in stats.keyed
    )
    return Sums(weight.sum(axis=1), dense, keyed)


class SumMetric(Metric):
    """A metric that depends on the samples only through sums of per-sample statistics.

    Subclasses define :meth:`sample_stats` and :meth:`from_sums`; :meth:`value`, resampled and
    mixed values all go through the same two functions: one :meth:`from_sums` call per chunk of
    resamples, not one metric computation per resample.

    Such a metric is also categorical (``polymodal.evaluate.stats.CategoricalMetric``): samples
    with equal statistics are interchangeable, so the metric of any sample set is a function of
    how many samples of each such category it holds (:meth:`category_codes`,
    :meth:`from_counts`). For accuracy there are 2 categories (right, wrong), for precision /
    recall / F1 and balanced accuracy the occupied confusion-matrix cells; the bootstrap then
    draws K counts per resample instead of N indices. Continuous statistics (MAE) have about N
    categories, and the bootstrap keeps drawing indices for them.
    """

    def sample_stats(self, inputs: MetricInputs) -> SampleStats:  # pragma: no cover - abstract
        """The per-sample statistics of ``inputs``."""
        raise NotImplementedError

    def from_sums(self, sums: Sums, inputs: MetricInputs) -> np.ndarray:  # pragma: no cover
        """float64 ``[R]`` metric values from the sums over R sample sets."""
        raise NotImplementedError

    def value(self, inputs: MetricInputs) -> MetricValue:
        return float(self.from_sums(total_sums(self.sample_stats(inputs)), inputs)[0])

    def resampler(self, inputs: MetricInputs) -> Callable[[np.ndarray], np.ndarray]:
        stats = self.sample_stats(inputs)
        n = len(inputs)
        return lambda idx: self.from_sums(resampled_sums(stats, idx, n), inputs)

    def mixer(
        self, inputs_a: MetricInputs, inputs_b: MetricInputs
    ) -> Callable[[np.ndarray], np.ndarray]:
        stats_a, stats_b = self.sample_stats(inputs_a), self.sample_stats(inputs_b)
        return lambda take: self.from_sums(mixed_sums(stats_a, stats_b, take), inputs_a)

    def categories(self, inputs: MetricInputs) -> StatCategories:
        """The samples of ``inputs`` grouped by equal per-sample statistics."""
        self.check(inputs)
        self._check_scalar()
        return stat_categories(self.sample_stats(inputs), len(inputs))

    def category_codes(self, inputs: MetricInputs) -> tuple[np.ndarray, int]:
        """``(codes int64 [N] in [0, K), K)``: samples with equal per-sample statistics share a
        code (categories in a fixed order for given inputs; see :func:`distinct_rows`)."""
        categories = self.categories(inputs)
        return categories.codes, categories.count

    def from_counts(self, counts: np.ndarray, inputs: MetricInputs) -> np.ndarray:
        """float64 ``[R]``: the metric of R sample sets holding ``counts [R, K]`` samples of
        each category of :meth:`category_codes`; with the counts of all N samples it equals
        :meth:`compute` (bit for bit when the statistics are integers, as counts are)."""
        categories = self.categories(inputs)
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[1] != categories.count or counts.dtype.kind not in "iu":
            raise MetricError(
                f"counts must be an int array [R, {categories.count}] (one column per category "
                f"of metric {self.name!r}), got {counts.dtype} {counts.shape}"
            )
        if np.any(counts < 0):
            raise MetricError("counts must be non-negative")
        return self.from_sums(category_sums(categories.stats, counts), inputs)


class WeightedMetric(Metric):
    """A metric computed from sample multiplicities (how often each sample is in a set).

    :meth:`prepare` does the per-call work once (e.g. sorting scores); :meth:`from_weights` gives
    the values for a chunk of multiplicity rows ``[R, N]`` (all ones for the metric itself).
    Mixed runs fall back to the loop of :meth:`Metric.mixer`.
    """

    def prepare(self, inputs: MetricInputs) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def from_weights(self, prepared: Any, weights: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def value(self, inputs: MetricInputs) -> MetricValue:
        weights = np.ones((1, len(inputs)), dtype=np.float64)
        return float(self.from_weights(self.prepare(inputs), weights)[0])

    def resampler(self, inputs: MetricInputs) -> Callable[[np.ndarray], np.ndarray]:
        prepared = self.prepare(inputs)
        n = len(inputs)
        return lambda idx: self.from_weights(prepared, multiplicities(idx, n))


def safe_divide(num: np.ndarray, den: np.ndarray, zero: float = 0.0) -> np.ndarray:
    """``num / den`` elementwise, ``zero`` where ``den == 0`` (no warning)."""
    num, den = np.broadcast_arrays(np.asarray(num, np.float64), np.asarray(den, np.float64))
    out = np.full(num.shape, zero, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


# --------------------------------------------------------------------------------------------
# Table-level API

_DEFAULTS: dict[str, tuple[str, ...]] = {
    "multiclass": (
        "accuracy",
        "balanced_accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_micro",
        "recall_micro",
        "f1_micro",
    ),
    "multilabel": ("f1_micro", "f1_macro", "map"),
    "regression": ("mae", "rmse", "pearson"),
}


def default_metrics(task_type: TaskType) -> list[str]:
    """The metrics computed when none are named, for ``task_type``."""
    if task_type not in _DEFAULTS:
        raise MetricError(f"unknown task type {task_type!r}", fix=f"use one of {TASK_TYPES}")
    return list(_DEFAULTS[task_type])


def create_metric(name: str) -> Metric:
    """The registered metric ``name`` with default parameters (unknown name: error listing all)."""
    return METRICS.create(name)


def flatten_value(name: str, value: MetricValue) -> dict[str, float]:
    """One metric value as flat ``{key: float}``: dict entries become ``name/key``, matrix
    entries ``name/row/col`` (for a confusion matrix, ``name/true/predicted``)."""
    if isinstance(value, dict):
        return {f"{name}/{k}": float(v) for k, v in value.items()}
    if isinstance(value, list):
        return {
            f"{name}/{i}/{j}": float(v) for i, row in enumerate(value) for j, v in enumerate(row)
        }
    return {name: float(value)}


def _check_single_condition(df: pd.DataFrame) -> None:
    columns = [c for c in ("perturbation", "severity") if c in df.columns]
    if not columns:
        return
    conditions = df[columns].drop_duplicates()
    if len(conditions) > 1:
        raise MetricError(
            f"the table mixes {len(conditions)} perturbation conditions",
            where="predictions table",
            fix="compute metrics per condition: df.groupby(['perturbation', 'severity'])",
        )


def compute_metrics(
    df: pd.DataFrame, task_type: TaskType, names: Sequence[str] | None = None
) -> dict[str, float]:
    """Compute metrics from a predictions table of one condition (one perturbation/severity).

    Args:
        df: the predictions table.
        task_type: ``multiclass``, ``multilabel`` or ``regression``.
        names: registered metric names; None -> :func:`default_metrics` of the task.

    Returns:
        ``{name: value}`` in the order of ``names``; per-class dicts and matrices are flattened
        (see :func:`flatten_value`).

    Raises:
        UnknownComponentError: an unknown name (the message lists the known ones).
        MetricError: a metric that does not apply to ``task_type``, or a table that mixes
            perturbation conditions.
    """
    names = default_metrics(task_type) if names is None else list(names)
    metrics = [create_metric(name) for name in names]
    for metric in metrics:
        if task_type not in metric.task:
            raise MetricError(
                f"metric {metric.name!r} applies to {' / '.join(metric.task)} tasks, "
                f"not {task_type}",
                fix=f"drop it, or use metrics of the task, e.g. {default_metrics(task_type)}",
            )
    _check_single_condition(df)
    inputs = inputs_from_table(df, task_type)
    out: dict[str, float] = {}
    for name, metric in zip(names, metrics, strict=True):
        out.update(flatten_value(name, metric.compute(inputs)))
    return out
