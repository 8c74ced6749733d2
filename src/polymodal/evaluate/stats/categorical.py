"""Exact bootstrap of categorical metrics by resampling category counts instead of sample indices.

Why it is exact. Let a metric depend on its N samples only through the counts ``n_1 .. n_K`` of
samples in K categories: accuracy through the numbers of right and wrong predictions; balanced
accuracy, precision, recall and F1 through the (target, prediction) cells of the confusion
matrix; Acc-2/5/7 through the binned (target, prediction) pairs; any metric of sums of
per-sample statistics through the groups of samples with equal statistics. A bootstrap resample
draws N samples independently and uniformly with replacement, so each draw falls in category c
with probability ``p_c = n_c / N`` independently of the others, and the resample's count vector
is ``Multinomial(N, p_1 .. p_K)``. The metric of the resample is a function of that vector
alone. Drawing the count vector directly
(:func:`~polymodal.evaluate.stats.resample.bootstrap_counts`) therefore gives resampled metric
values with exactly the distribution of index resampling: nothing is approximated. Only the
random draws differ, so the values are not those of the index rows of the same seed (the
intervals agree within Monte-Carlo error, not bit for bit). A resample costs K binomial draws
and one metric evaluation on K counts instead of N index draws and a pass over N samples.

Paired bootstrap: each sample's joint category (its category under run A, its category under
run B) is drawn, so one count vector drives both runs, as one index row does.

BCa's jackknife: leaving out one sample of category c gives the counts ``n - e_c``, so the N
leave-one-out values take at most K distinct values, value c occurring ``n_c`` times. The exact
leave-one-out acceleration is then a count-weighted sum over categories: exact (no grouping
error) and O(K) metric evaluations instead of N.

References:
    B. Efron and R. J. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall, 1993
    (ch. 6: the bootstrap resample as multinomial counts of the observed points; ch. 11, 14).
    A. C. Davison and D. V. Hinkley, *Bootstrap Methods and their Application*, 1997, §2.4
    (resampling frequencies ``f ~ Multinomial(n, 1/n)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from polymodal.evaluate.stats._checks import StatsError, as_row_values, check_count
from polymodal.evaluate.stats.protocol import CategoricalMetric
from polymodal.evaluate.stats.resample import bootstrap_counts, default_batch

Resampling = Literal["auto", "counts", "indices"]
RESAMPLINGS: tuple[str, ...] = ("auto", "counts", "indices")

COUNTS_BELOW = 16
"""``resampling="auto"`` draws counts when ``K * COUNTS_BELOW <= N``.

A count row costs K binomial draws (about 120 ns each) and an index row N integer draws and
gathers (about 5-15 ns each; both measured on 2 shared CPU cores at N = 100k), so counts pay
off once K is below about N / 15. Either way the bootstrap is exact: the choice changes speed
(and the random draws), not the distribution.
"""


@dataclass(frozen=True)
class CountStatistic:
    """A statistic of category counts: what the count path resamples.

    Attributes:
        observed: int64 ``[K]`` samples per category among the N samples.
        evaluate: int counts ``[R, K]`` -> float64 ``[R]`` (checked: one finite value per row).
    """

    observed: np.ndarray
    evaluate: Callable[[np.ndarray], np.ndarray]


def check_resampling(resampling: str) -> Resampling:
    """``resampling`` if it is "auto", "counts" or "indices"; StatsError otherwise."""
    if resampling not in RESAMPLINGS:
        raise StatsError(
            f"unknown resampling {resampling!r}", fix=f"use one of {RESAMPLINGS} (default auto)"
        )
    return resampling  # type: ignore[return-value]


def _is_categorical(metric: Any, resampling: Resampling) -> bool:
    if isinstance(metric, CategoricalMetric):
        return True
    if resampling == "counts":
        raise StatsError(
            f"resampling='counts' needs a CategoricalMetric; {type(metric).__name__} has no "
            "category_codes and from_counts",
            fix="use resampling='auto' or 'indices' (index rows work for every metric)",
        )
    return False


def _pays(categories: int, n: int, resampling: Resampling) -> bool:
    return resampling == "counts" or categories * COUNTS_BELOW <= n


def category_codes(metric: CategoricalMetric, inputs: Any, n: int) -> tuple[np.ndarray, int]:
    """``metric.category_codes(inputs)`` as int64 ``[N]`` codes and K, checked against ``n``."""
    codes, k = metric.category_codes(inputs)
    codes, k = np.asarray(codes), int(k)
    bad = codes.shape != (n,) or codes.dtype.kind not in "iu"
    if bad or k < 1 or codes.min() < 0 or codes.max() >= k:
        raise StatsError(
            f"{type(metric).__name__}.category_codes gave {codes.dtype} codes of shape "
            f"{codes.shape} with K = {k} for n = {n} samples",
            fix="return int codes [N] in [0, K), N being the n passed to the statistic",
        )
    return codes.astype(np.int64, copy=False), k


def _evaluator(metric: CategoricalMetric, inputs: Any) -> Callable[[np.ndarray], np.ndarray]:
    def evaluate(counts: np.ndarray) -> np.ndarray:
        values = metric.from_counts(counts, inputs)
        return as_row_values(values, counts.shape[0], metric, "from_counts")

    return evaluate


def count_statistic(
    metric: Any, inputs: Any, n: int, resampling: str = "auto"
) -> CountStatistic | None:
    """The count statistic of ``metric`` on ``inputs``, or None where indices are to be drawn.

    Args:
        resampling: "indices" -> None; "counts" -> the statistic (StatsError when the metric is
            not a :class:`~polymodal.evaluate.stats.protocol.CategoricalMetric`); "auto" -> the
            statistic when the metric is categorical and ``K * COUNTS_BELOW <= N``, else None.
    """
    mode = check_resampling(resampling)
    if mode == "indices" or not _is_categorical(metric, mode):
        return None
    n = check_count("n", n)
    codes, k = category_codes(metric, inputs, n)
    if not _pays(k, n, mode):
        return None
    return CountStatistic(np.bincount(codes, minlength=k), _evaluator(metric, inputs))


def merge_categories(counts: np.ndarray, into: np.ndarray, k: int) -> np.ndarray:
    """Counts ``[R, J]`` added up into K coarser categories: column j goes to ``into[j]``.

    Returns:
        int64 ``[R, K]``.
    """
    r = counts.shape[0]
    flat = (into[None, :] + (np.arange(r, dtype=np.int64) * k)[:, None]).ravel()  # [R * J]
    summed = np.bincount(flat, weights=counts.ravel(), minlength=r * k)  # exact below 2^53
    return summed.reshape(r, k).astype(np.int64)  # [R * K] -> [R, K]


def paired_count_statistic(
    metric: Any, inputs_a: Any, inputs_b: Any, n: int, resampling: str = "auto"
) -> CountStatistic | None:
    """The count statistic of ``metric(A) - metric(B)`` over joint categories, or None.

    A sample's joint category is the pair (its category under A, its category under B); a row of
    joint counts gives both runs' counts (by adding up over the other run's category), so the
    same resample drives both runs. ``resampling`` as in :func:`count_statistic`, K being the
    number of joint categories that occur.
    """
    mode = check_resampling(resampling)
    if mode == "indices" or not _is_categorical(metric, mode):
        return None
    n = check_count("n", n)
    codes_a, k_a = category_codes(metric, inputs_a, n)
    codes_b, k_b = category_codes(metric, inputs_b, n)
    pairs, joint = np.unique(codes_a * k_b + codes_b, return_inverse=True)  # [J], [N]
    if not _pays(pairs.size, n, mode):
        return None
    to_a, to_b = pairs // k_b, pairs % k_b  # [J] each: the joint category's A and B categories
    evaluate_a, evaluate_b = _evaluator(metric, inputs_a), _evaluator(metric, inputs_b)

    def evaluate(counts: np.ndarray) -> np.ndarray:
        value_a = evaluate_a(merge_categories(counts, to_a, k_a))
        return value_a - evaluate_b(merge_categories(counts, to_b, k_b))  # [R]

    observed = np.bincount(joint.reshape(-1), minlength=pairs.size)
    return CountStatistic(observed, evaluate)


def _leave_one_out_rows(
    observed: np.ndarray, occupied: np.ndarray, batch: int | None
) -> Iterator[np.ndarray]:
    """Count rows ``observed - e_c`` for each c of ``occupied``, in batches ``[b, K]``."""
    step = default_batch(observed.size) if batch is None else check_count("batch", batch)
    for start in range(0, occupied.size, step):
        left_out = occupied[start : start + step]  # [b]
        rows = np.repeat(observed[None, :], left_out.size, axis=0)  # [b, K]
        rows[np.arange(left_out.size), left_out] -= 1
        yield rows


def count_distribution(
    statistic: CountStatistic, resamples: int, *, seed: int = 0, batch: int | None = None
) -> np.ndarray:
    """The statistic on ``resamples`` multinomial count rows (seeded, independent of ``batch``).

    Returns:
        float64 ``[resamples]``.
    """
    rows = bootstrap_counts(statistic.observed, resamples, seed=seed, batch=batch)
    return np.concatenate([statistic.evaluate(counts) for counts in rows])


def count_jackknife(
    statistic: CountStatistic, *, batch: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The exact leave-one-out jackknife from counts: one value per occupied category.

    Returns:
        ``(values, weights)``, float64 and int64 ``[K']`` over the categories with at least one
        sample, in ascending category order: ``values[j]`` is the statistic with one sample of
        that category left out, and ``weights[j]`` (its sample count) how many of the N
        leave-one-out values equal it.

    Raises:
        StatsError: fewer than 2 samples (nothing is left after leaving one out).
    """
    observed = statistic.observed
    if int(observed.sum()) < 2:
        raise StatsError("a jackknife needs at least 2 samples", fix="use more samples")
    occupied = np.flatnonzero(observed)  # [K']
    rows = _leave_one_out_rows(observed, occupied, batch)
    parts = [statistic.evaluate(block) for block in rows]
    return np.concatenate(parts), observed[occupied]
