"""The metric contract: a :class:`Metric` computes one number from :class:`MetricInputs`.

A :class:`Metric` computes one value from it, and the same value
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

The statistics and their sums live in :mod:`polymodal.evaluate.metrics.sums`, the inputs in
:mod:`polymodal.evaluate.metrics.inputs`, the table-level API (default sets, options, per-metric
notes) in :mod:`polymodal.evaluate.metrics.table`.

Example::

    metric = create_metric("accuracy")
    inputs = inputs_from_table(table, "multiclass")
    metric.compute_resampled(inputs, rng.integers(0, len(inputs), (1000, len(inputs))))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from polymodal.evaluate.metrics.inputs import (
    MetricError,
    MetricInputs,
    MetricValue,
    check_same_samples,
)
from polymodal.evaluate.metrics.sums import (
    SampleStats,
    StatCategories,
    Sums,
    category_sums,
    check_indices,
    mixed_sums,
    multiplicities,
    resampled_sums,
    row_chunks,
    stat_categories,
    total_sums,
)

if TYPE_CHECKING:  # polymodal.data.schema imports torch, which metrics do not need
    from polymodal.data.schema import TaskType


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

    def why_undefined(self, inputs: MetricInputs) -> str:
        """Why the value on ``inputs`` is NaN (metrics with NaN cases say which one)."""
        return "not defined on these samples"

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
