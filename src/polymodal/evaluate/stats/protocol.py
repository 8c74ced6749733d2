"""The metric contract the statistics need: a value, and the value on many index resamples at once.

The statistics never look inside a metric's ``inputs`` (a predictions table, a pair of arrays,
...): they pass it through untouched and describe every resample, jackknife row or swap pattern
by an *index* or *mask* array, so a metric can gather and reduce all rows in one vectorised call.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ResamplableMetric(Protocol):
    """A metric that can be computed on many index resamples in one call.

    Attributes:
        higher_is_better: direction of the metric (the intervals and tests here are
            direction-free; callers and reports use it to say which model is better).
    """

    higher_is_better: bool

    def compute(self, inputs: Any) -> float:
        """The metric on all N samples of ``inputs``."""
        ...

    def compute_resampled(self, inputs: Any, indices: np.ndarray) -> np.ndarray:
        """The metric on each row of ``indices``.

        Args:
            inputs: the same opaque object as :meth:`compute` takes (N samples).
            indices: int64 ``[R, M]``, each row a multiset of sample positions in ``[0, N)``.
                ``M`` is N for bootstrap resamples but may be smaller (jackknife rows leave a
                sample or a group of samples out, ``M = N - group size``).

        Returns:
            float ``[R]``: entry ``r`` equals ``compute`` of the samples ``indices[r]``.
        """
        ...


@runtime_checkable
class MixableMetric(ResamplableMetric, Protocol):
    """A metric that can also be computed on samples mixed from two runs on the same samples.

    Used by :func:`~polymodal.evaluate.stats.paired.permutation_test_paired` to express "swap the
    two models' outputs on sample i" without knowing what an output is.
    """

    def compute_mixed(self, inputs_a: Any, inputs_b: Any, take_b: np.ndarray) -> np.ndarray:
        """The metric on each row of samples mixed from two aligned runs.

        Args:
            inputs_a: run A on N samples.
            inputs_b: run B on the same N samples, in the same order (shared targets).
            take_b: bool ``[R, N]``; row ``r`` is the run that takes sample ``i`` from B where
                ``take_b[r, i]`` and from A elsewhere.

        Returns:
            float ``[R]``: the metric of each mixed run (all-False row = ``compute(inputs_a)``,
            all-True row = ``compute(inputs_b)``).
        """
        ...


@runtime_checkable
class CategoricalMetric(ResamplableMetric, Protocol):
    """A metric that depends on the samples only through how many fall in each of K categories.

    Accuracy, balanced accuracy and precision / recall / F1 are functions of the counts of
    (target, prediction) cells; any metric built on sums of per-sample statistics is a function
    of the counts of samples with identical statistics. For such a metric the bootstrap can draw
    K counts per resample instead of N indices
    (see :mod:`polymodal.evaluate.stats.categorical`, which says why that is exact).
    """

    def category_codes(self, inputs: Any) -> tuple[np.ndarray, int]:
        """The category of every sample.

        Returns:
            ``(codes, K)``: int ``[N]`` codes in ``[0, K)``; two samples with the same code must
            be interchangeable (the metric of any sample set depends only on how many samples
            of each code it holds).
        """
        ...

    def from_counts(self, counts: np.ndarray, inputs: Any) -> np.ndarray:
        """The metric of R sample sets given by their category counts.

        Args:
            counts: int ``[R, K]``; row ``r`` holds ``counts[r, c]`` samples of category c (any
                row sum M: N for a bootstrap resample, N - 1 for a leave-one-out row).
            inputs: the same opaque object as :meth:`category_codes` took.

        Returns:
            float ``[R]``: entry ``r`` equals ``compute`` of any sample set with those counts
            (with the counts of the N samples it equals ``compute(inputs)``).
        """
        ...
