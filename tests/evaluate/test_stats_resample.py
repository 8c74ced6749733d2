"""Tests of polymodal.evaluate.stats.resample: seeded index rows, swap masks, jackknife groups."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.evaluate.stats import StatsError
from polymodal.evaluate.stats.resample import (
    MAX_BATCH_ELEMENTS,
    bootstrap_counts,
    bootstrap_indices,
    default_batch,
    jackknife_groups,
    jackknife_indices,
    swap_masks,
)


def test_bootstrap_indices_are_the_default_rng_stream_whatever_the_batch() -> None:
    expected = np.random.default_rng(9).integers(0, 37, size=(50, 37))
    for batch in (None, 1, 7, 50, 1000):
        batches = list(bootstrap_indices(37, 50, seed=9, batch=batch))
        assert all(b.dtype == np.int64 and b.shape[1] == 37 for b in batches)
        assert all(b.shape[0] <= (batch or 50) for b in batches)
        np.testing.assert_array_equal(np.concatenate(batches), expected)


def test_default_batch_bounds_memory() -> None:
    assert default_batch(100_000) * 100_000 <= MAX_BATCH_ELEMENTS
    assert default_batch(10**9) == 1
    sizes = [b.shape[0] for b in bootstrap_indices(100_000, 100)]
    assert max(sizes) == default_batch(100_000)
    assert sum(sizes) == 100


def test_swap_masks_are_fair_and_independent_of_batch() -> None:
    whole = np.concatenate(list(swap_masks(131, 400, seed=2)))
    pieces = np.concatenate(list(swap_masks(131, 400, seed=2, batch=9)))
    assert whole.shape == (400, 131)
    assert whole.dtype == bool
    np.testing.assert_array_equal(whole, pieces)
    assert abs(whole.mean() - 0.5) < 0.01  # 52,400 fair coins: sd 0.0022
    assert abs(whole[:, 64:].mean() - 0.5) < 0.02  # every word's bits used, not only the first
    other = np.concatenate(list(swap_masks(131, 400, seed=3)))
    assert not np.array_equal(whole, other)


def test_swap_masks_take_raw_bits_least_significant_first() -> None:
    (mask,) = swap_masks(70, 1, seed=5)
    words = np.random.default_rng(5).bit_generator.random_raw(2)  # 70 bits -> 2 words
    bits = [(int(words[k // 64]) >> (k % 64)) & 1 for k in range(70)]
    np.testing.assert_array_equal(mask[0], np.array(bits, dtype=bool))


@pytest.mark.parametrize(("n", "groups"), [(10, 3), (12, 4), (7, 7), (7, 20), (1000, 999)])
def test_jackknife_groups_partition_the_samples(n: int, groups: int) -> None:
    blocks = jackknife_groups(n, groups, seed=1)
    members = np.concatenate([block.ravel() for block in blocks])
    np.testing.assert_array_equal(np.sort(members), np.arange(n))
    sizes = {block.shape[1] for block in blocks}
    assert max(sizes) - min(sizes) <= 1
    assert sum(block.shape[0] for block in blocks) == min(n, groups)


def test_exact_jackknife_rows_leave_one_out_in_order() -> None:
    rows = np.concatenate(list(jackknife_indices(6, 6, batch=4)))
    expected = np.array([np.delete(np.arange(6), i) for i in range(6)])
    np.testing.assert_array_equal(rows, expected)


def test_grouped_jackknife_rows_are_complements_of_the_groups() -> None:
    groups = [g for block in jackknife_groups(23, 5, seed=4) for g in block]
    rows = [r for batch in jackknife_indices(23, 5, seed=4, batch=2) for r in batch]
    assert len(rows) == 5
    for group, row in zip(groups, rows, strict=True):
        np.testing.assert_array_equal(row, np.setdiff1d(np.arange(23), group))


def test_shuffled_groups_depend_on_the_seed() -> None:
    first = jackknife_groups(100, 10, seed=0)[0]
    assert not np.array_equal(first, jackknife_groups(100, 10, seed=1)[0])
    np.testing.assert_array_equal(first, jackknife_groups(100, 10, seed=0)[0])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_counts_are_checked(bad: object) -> None:
    with pytest.raises(StatsError, match="must be an integer"):
        next(bootstrap_indices(10, bad))  # type: ignore[arg-type]


def test_bootstrap_counts_are_the_default_rng_multinomial_whatever_the_batch() -> None:
    observed = np.array([5, 0, 12, 3], dtype=np.int64)  # N = 20, one empty category
    expected = np.random.default_rng(4).multinomial(20, observed / 20, size=300)
    for batch in (None, 1, 7, 300):
        batches = list(bootstrap_counts(observed, 300, seed=4, batch=batch))
        assert all(b.dtype == np.int64 and b.shape[1] == 4 for b in batches)
        np.testing.assert_array_equal(np.concatenate(batches), expected)
    assert np.all(expected.sum(axis=1) == 20)
    assert np.all(expected[:, 1] == 0)  # an empty category is never drawn
    # mean count N p_c: sd of the mean over 300 rows <= sqrt(20 * 0.25 / 300) ~ 0.13
    np.testing.assert_allclose(expected.mean(axis=0), observed, atol=0.6)


@pytest.mark.parametrize(
    ("observed", "message"),
    [
        (np.array([[1, 2]]), "non-negative ints"),
        (np.array([1.0, 2.0]), "non-negative ints"),
        (np.array([1, -1, 3]), "non-negative ints"),
        (np.array([0, 0]), "no samples"),
    ],
)
def test_bootstrap_counts_reject_bad_counts(observed: np.ndarray, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        next(bootstrap_counts(observed, 5))
