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
