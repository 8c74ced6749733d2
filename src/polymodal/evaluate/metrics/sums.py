"""Per-sample sufficient statistics and their sums over resamples (the kernels of
:class:`~polymodal.evaluate.metrics.base.SumMetric`).

Most metrics depend on the samples only through *sums of per-sample statistics* (per-class true
positive counts, squared errors, calibration-bin residuals). Their resampled values come from a
gather-and-sum per statistic column, ``bincount`` of keyed counts (one per row for long rows,
which keeps it in cache) or one matrix product for wide statistics. Samples with equal
statistics form a category (:func:`stat_categories`), and the sums of any sample set are a
function of its counts per category (:func:`category_sums`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from polymodal.evaluate.metrics.inputs import MetricError

CHUNK_ELEMENTS = 1 << 22
"""Elements (resamples x samples) handled at once by the vectorised resampling: about 32 MiB."""


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


def safe_divide(num: np.ndarray, den: np.ndarray, zero: float = 0.0) -> np.ndarray:
    """``num / den`` elementwise, ``zero`` where ``den == 0`` (no warning)."""
    num, den = np.broadcast_arrays(np.asarray(num, np.float64), np.asarray(den, np.float64))
    out = np.full(num.shape, zero, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out
