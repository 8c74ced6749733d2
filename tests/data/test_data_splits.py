"""Tests of polymodal.data.splits: grouped fractions count groups, seeds fix the split, groups
never straddle two splits, and the draws equal the manifest's and translation-pairs' own."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from polymodal.data.splits import (
    carve_validation,
    fraction_count,
    fraction_problem,
    group_keys,
    groups_of,
    random_group_split,
    straddling_groups,
)


def _captions(images: int, per_image: int) -> list[str]:
    """Group keys of ``images`` images with ``per_image`` caption rows each, rows interleaved."""
    return [f"img{i}" for _ in range(per_image) for i in range(images)]


def test_fraction_count_by_hand() -> None:
    assert fraction_count(10, 0.25) == 2  # round(2.5): to even
    assert fraction_count(10, 0.35) == 4  # round(3.5)
    assert fraction_count(3, 0.1) == 1  # round(0.3) = 0, at least one when > 0
    assert fraction_count(5, 0.0) == 0
    assert fraction_count(0, 0.5) == 0


def test_fraction_problem_names_bad_pairs_only() -> None:
    assert fraction_problem(0.1, 0.2) is None
    assert fraction_problem(0.0, 0.0) is None
    for val, test in ((0.5, 0.5), (-0.1, 0.1), (1.0, 0.0), (0.1, 1.2)):
        problem = fraction_problem(val, test)
        assert problem is not None
        assert f"({val})" in problem
        assert f"({test})" in problem


def test_grouped_fractions_count_groups_not_rows() -> None:
    keys = _captions(images=1000, per_image=5)
    splits = random_group_split(keys, 0.1, 0.2, seed=3)
    test_images = {k for k, x in zip(keys, splits, strict=True) if x == "test"}
    assert len(test_images) == 200  # 20 % of the 1,000 images, not of 5,000 rows
    assert Counter(splits) == {"train": 3500, "val": 500, "test": 1000}


def test_groups_never_straddle_two_splits() -> None:
    rng = np.random.default_rng(0)
    keys = [int(k) for k in rng.integers(0, 40, size=300)]  # groups of random sizes
    for seed in range(20):
        splits = random_group_split(keys, 0.2, 0.3, seed=seed)
        of_group: dict[int, set[str]] = {}
        for key, split in zip(keys, splits, strict=True):
            of_group.setdefault(key, set()).add(split)
        assert all(len(s) == 1 for s in of_group.values())
        assert straddling_groups(splits, keys) == []


def test_same_seed_same_split_other_seed_another() -> None:
    keys = _captions(images=50, per_image=3)
    first = random_group_split(keys, 0.2, 0.2, seed=7)
    assert random_group_split(keys, 0.2, 0.2, seed=7) == first
    assert random_group_split(keys, 0.2, 0.2, seed=(7, 1)) == random_group_split(
        keys, 0.2, 0.2, seed=np.random.default_rng((7, 1))
    )
    assert random_group_split(keys, 0.2, 0.2, seed=8) != first


def _old_manifest_split(n_rows: int, groups: list[str], val: float, test: float, seed: int):
    """The manifest's split before data/splits.py existed, written out as a reference."""
    rng = np.random.default_rng(seed)
    units: dict[str, list[int]] = {}
    for i in range(n_rows):
        units.setdefault(groups[i], []).append(i)
    unit_list = list(units.values())
    n = len(unit_list)
    order = rng.permutation(n)
    take = lambda f: 0 if f <= 0 or n == 0 else max(1, round(n * f))  # noqa: E731
    n_test = take(test)
    n_val = min(take(val), max(0, n - n_test - 1))
    out = ["train"] * n_rows
    for u in order[:n_test]:
        for i in unit_list[int(u)]:
            out[i] = "test"
    for u in order[n_test : n_test + n_val]:
        for i in unit_list[int(u)]:
            out[i] = "val"
    return out


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_equals_the_manifest_split_it_replaced(seed: int) -> None:
    cells = [None if i % 7 == 0 else f"g{i % 11}" for i in range(60)]
    keys = group_keys(cells)
    assert random_group_split(keys, 0.15, 0.25, seed) == _old_manifest_split(
        60, keys, 0.15, 0.25, seed
    )


def test_keep_train_caps_test_as_translation_pairs_did() -> None:
    # one group, test fraction > 0: the manifest's draw puts it in test; translation-pairs keeps
    # at least one group in train
    assert random_group_split(["a", "a"], 0.0, 0.5, seed=0) == ["test", "test"]
    assert random_group_split(["a", "a"], 0.0, 0.5, seed=0, keep_train=True) == ["train"] * 2
    two = random_group_split(["a", "b"], 0.5, 0.5, seed=0, keep_train=True)
    assert sorted(two) == ["test", "train"]  # val capped: one group stays in train


def test_group_keys_empty_cells_are_groups_of_their_own() -> None:
    keys = group_keys(["x", None, "x", None, 3, "3"])
    assert keys[0] == keys[2]
    assert len({keys[1], keys[3], keys[0]}) == 3
    assert keys[4] != keys[5]  # the JSON of 3 and of "3" differ
    assert groups_of(keys) == [[0, 2], [1], [3], [4], [5]]


def test_carve_validation_moves_whole_training_groups_only() -> None:
    keys = ["a", "a", "b", "b", "c", "d", "e", "t"]
    splits: list[str | None] = ["train"] * 7 + ["test"]
    splits[5] = None  # an unknown split stays unknown
    out = carve_validation(splits, keys, 0.5, seed=0)
    assert out[7] == "test"
    assert out[5] is None
    moved = {keys[i] for i, s in enumerate(out) if s == "val"}
    assert len(moved) == 2  # round(0.5 * 4 training groups)
    assert straddling_groups(out, keys) == []
    assert carve_validation(splits, keys, 0.5, seed=0) == out


def test_straddling_groups_by_hand() -> None:
    splits = ["train", "test", "train", None, "val", "train"]
    keys = ["a", "a", "b", "b", "c", "c"]
    assert straddling_groups(splits, keys) == [(0, 1), (4, 5)]
