"""Seeded index, count and mask arrays for resampling: bootstrap rows (as sample indices or as
category counts), jackknife rows, swap patterns.

Every generator yields batches of rows so that memory stays bounded (about
:data:`MAX_BATCH_ELEMENTS` entries per batch by default). The rows drawn depend only on the seed and
the sizes, never on the batch size: ``batch`` bounds memory and does not change a result.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from polymodal.evaluate.stats._checks import StatsError, check_count

MAX_BATCH_ELEMENTS = 1 << 22
"""Default bound on the entries of one batch of rows (4 Mi entries: 32 MiB of int64 indices)."""

_JACKKNIFE_STREAM = 1
"""Spawn key of the random stream that partitions samples into jackknife groups."""


def default_batch(row_length: int) -> int:
    """Rows per batch so that one batch holds at most :data:`MAX_BATCH_ELEMENTS` entries."""
    return max(1, MAX_BATCH_ELEMENTS // max(1, row_length))


def _rows_per_batch(batch: int | None, row_length: int) -> int:
    return default_batch(row_length) if batch is None else check_count("batch", batch)


def bootstrap_indices(
    n: int, resamples: int, *, seed: int = 0, batch: int | None = None
) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``n`` samples as index rows, in batches.

    Row ``r`` is ``n`` positions drawn uniformly with replacement from ``[0, n)`` by
    ``numpy.random.default_rng(seed).integers`` (the same stream as ``scipy.stats.bootstrap``
    with ``rng=default_rng(seed)`` draws for one sample).

    Yields:
        int64 ``[b, n]`` with ``b <= batch``; the batches together hold ``resamples`` rows.
    """
    n = check_count("n", n)
    resamples = check_count("resamples", resamples)
    rows = _rows_per_batch(batch, n)
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, rows):
        size = min(rows, resamples - start)
        yield rng.integers(0, n, size=(size, n), dtype=np.int64)  # [b, N]


def bootstrap_counts(
    observed: np.ndarray, resamples: int, *, seed: int = 0, batch: int | None = None
) -> Iterator[np.ndarray]:
    """Bootstrap resamples of N categorised samples as category counts, in batches.

    ``observed`` holds how many of the N samples fall in each of K categories. Drawing N samples
    with replacement and counting them per category gives ``Multinomial(N, observed / N)``
    counts, which is what each row is: ``numpy.random.default_rng(seed).multinomial`` (rows are
    drawn one after another, so the rows do not depend on ``batch``). A row costs K binomial
    draws instead of N index draws.

    Yields:
        int64 ``[b, K]`` with ``b <= batch``, each row summing to N; the batches together hold
        ``resamples`` rows.
    """
    observed = np.asarray(observed)
    if observed.ndim != 1 or observed.dtype.kind not in "iu" or np.any(observed < 0):
        raise StatsError(
            f"category counts must be non-negative ints [K], got {observed.dtype} {observed.shape}",
            fix="pass np.bincount(codes, minlength=K)",
        )
    n = int(observed.sum())
    if n == 0:
        raise StatsError("the category counts hold no samples", fix="pass the counts of N >= 1")
    resamples = check_count("resamples", resamples)
    rows = _rows_per_batch(batch, observed.size)
    rng = np.random.default_rng(seed)
    shares = observed / n  # [K], sums to 1
    for start in range(0, resamples, rows):
        size = min(rows, resamples - start)
        yield rng.multinomial(n, shares, size=size).astype(np.int64, copy=False)  # [b, K]


def swap_masks(
    n: int, rounds: int, *, seed: int = 0, batch: int | None = None
) -> Iterator[np.ndarray]:
    """Fair coin flips per sample and round (the swaps of an approximate randomisation test).

    Bits come from the raw 64-bit outputs of ``default_rng(seed)`` (one word per 64 samples of a
    row, least significant bit first), so they do not depend on the batch size or the platform.

    Yields:
        bool ``[b, n]`` with ``b <= batch``; the batches together hold ``rounds`` rows.
    """
    n = check_count("n", n)
    rounds = check_count("rounds", rounds)
    rows = _rows_per_batch(batch, n)
    words = -(-n // 64)  # 64-bit words per row
    bit_generator = np.random.default_rng(seed).bit_generator
    for start in range(0, rounds, rows):
        size = min(rows, rounds - start)
        raw = bit_generator.random_raw(size * words).astype("<u8")  # [b * W]
        as_bytes = raw.view(np.uint8).reshape(size, words * 8)  # [b, 8W]
        bits = np.unpackbits(as_bytes, axis=1, count=n, bitorder="little")  # [b, N]
        yield bits.astype(bool)


def jackknife_groups(n: int, groups: int, *, seed: int = 0) -> list[np.ndarray]:
    """Partition ``[0, n)`` into ``groups`` groups for a delete-a-group jackknife.

    ``groups >= n`` gives the exact jackknife partition ``{0}, {1}, ..., {n-1}`` in order. For
    fewer groups the samples are shuffled by a stream derived from ``seed`` (so that sorted data,
    e.g. predictions ordered by class, do not make groups homogeneous) and cut into groups of
    ``n // groups`` or ``n // groups + 1`` samples.

    Returns:
        one or two int64 arrays ``[g, s]`` (the members of ``g`` groups of equal size ``s``).
    """
    n = check_count("n", n)
    groups = check_count("groups", groups)
    if groups > n:
        groups = n
    if groups == n:
        return [np.arange(n, dtype=np.int64)[:, None]]  # [N, 1]
    stream = np.random.SeedSequence(seed, spawn_key=(_JACKKNIFE_STREAM,))
    order = np.random.default_rng(stream).permutation(n)
    size, larger = divmod(n, groups)
    cut = larger * (size + 1)
    blocks = [order[:cut].reshape(larger, size + 1), order[cut:].reshape(groups - larger, size)]
    return [block for block in blocks if block.shape[0] > 0]


def jackknife_indices(
    n: int, groups: int, *, seed: int = 0, batch: int | None = None
) -> Iterator[np.ndarray]:
    """Delete-a-group jackknife rows: row ``g`` holds every position except group ``g``'s.

    Groups are those of :func:`jackknife_groups` (same order); positions in a row are ascending.

    Yields:
        int64 ``[b, n - s]``: every row of one batch leaves out a group of the same size ``s``.
    """
    for block in jackknife_groups(n, groups, seed=seed):
        rows = _rows_per_batch(batch, n)
        for start in range(0, block.shape[0], rows):
            yield _complement_rows(block[start : start + rows], n)  # [b, N - s]


def _complement_rows(members: np.ndarray, n: int) -> np.ndarray:
    """Ascending positions of ``[0, n)`` outside each row of ``members`` (int ``[b, s]``)."""
    count, size = members.shape
    if size == 1:  # leave-one-out: position j of the row is j, or j + 1 from the left-out one on
        base = np.arange(n - 1, dtype=np.int64)[None, :]  # [1, N - 1]
        return base + (base >= members)  # [b, N - 1]
    keep = np.ones((count, n), dtype=bool)  # [b, N]
    keep[np.arange(count)[:, None], members] = False
    return np.nonzero(keep)[1].reshape(count, n - size)  # [b, N - s]
