"""Seeded random splits of rows into ``train`` / ``val`` / ``test``, by group.

A *group* is a set of rows that must land in one split (five captions of one image, the
translations of one sentence): rows with equal group keys form a group, and the fractions count
groups, not rows. Give every row its own key (e.g. :func:`group_keys` of ``None`` cells) for a
split by row.

The draw: the groups, in first-seen order, are shuffled by ``rng.permutation(n_groups)``; the
first :func:`fraction_count` ``(n, test_fraction)`` of that order go to ``test``, the next
``fraction_count(n, val_fraction)`` to ``val`` (capped so at least one group stays in
``train``), the rest to ``train``. The same seed gives the same split.

Example:
    >>> random_group_split(["a", "a", "b", "c"], 0.0, 0.34, seed=0)  # groups a, b, c
    ['train', 'train', 'train', 'test']
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")

Seed = int | Sequence[int] | np.random.Generator


def fraction_count(n: int, fraction: float) -> int:
    """Units a fraction of ``n`` asks for: ``round(n * fraction)``, at least one when
    ``fraction > 0`` (0 when ``n`` is 0)."""
    return 0 if fraction <= 0 or n == 0 else max(1, round(n * fraction))


def fraction_problem(val_fraction: float, test_fraction: float) -> str | None:
    """What is wrong with a pair of fractions (each in [0, 1), summing to less than 1), or None."""
    ok = 0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1
    if ok:
        return None
    return (
        f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in "
        "[0, 1) and sum to less than 1"
    )


def group_keys(values: Sequence[Any]) -> list[str]:
    """One group key per row: the value as JSON (equal values, one group), or a key of the row
    alone where the value is None (a row with an empty group cell is a group of its own)."""
    return [
        f"\0row {i}" if value is None else json.dumps(value, sort_keys=True, default=str)
        for i, value in enumerate(values)
    ]


def groups_of(keys: Sequence[Hashable], members: Sequence[int] | None = None) -> list[list[int]]:
    """Row indices (``members``, default all rows) gathered by key, groups in first-seen order."""
    out: dict[Hashable, list[int]] = {}
    for i in range(len(keys)) if members is None else members:
        out.setdefault(keys[i], []).append(i)
    return list(out.values())


def random_group_split(
    keys: Sequence[Hashable],
    val_fraction: float,
    test_fraction: float,
    seed: Seed,
    *,
    keep_train: bool = False,
) -> list[str]:
    """Each row's split, drawing whole groups (see the module docs).

    Args:
        keys: one group key per row.
        val_fraction, test_fraction: share of *groups* in val and test.
        seed: seed of the draw (or a generator, used as it is).
        keep_train: cap the test groups too, so at least one group stays in train (val is
            always capped so).

    Returns:
        ``train``, ``val`` or ``test`` per row; rows of one group share it.
    """
    rng = np.random.default_rng(seed)
    units = groups_of(keys)
    n = len(units)
    order = rng.permutation(n)
    n_test = fraction_count(n, test_fraction)
    if keep_train:
        n_test = min(n_test, max(0, n - 1))
    n_val = min(fraction_count(n, val_fraction), max(0, n - n_test - 1))
    splits = ["train"] * len(keys)
    for chosen, split in ((order[:n_test], "test"), (order[n_test : n_test + n_val], "val")):
        for u in chosen:
            for i in units[int(u)]:
                splits[i] = split
    return splits


def carve_validation(
    splits: list[str | None], keys: Sequence[Hashable], val_fraction: float, seed: Seed
) -> list[str | None]:
    """``splits`` with a validation split drawn out of its ``train`` rows, by whole groups.

    ``fraction_count(groups, val_fraction)`` of the training groups (at most all but one) move
    to ``val``, drawn by ``rng.permutation``. Other entries (``test``, None) are kept.
    """
    rng = np.random.default_rng(seed)
    train = groups_of(keys, [i for i, s in enumerate(splits) if s == "train"])
    n_val = min(fraction_count(len(train), val_fraction), max(0, len(train) - 1))
    out = list(splits)
    for u in rng.permutation(len(train))[:n_val]:
        for i in train[int(u)]:
            out[i] = "val"
    return out


def straddling_groups(
    splits: Sequence[str | None], keys: Sequence[Hashable]
) -> list[tuple[int, int]]:
    """Groups whose rows are in two splits: ``(first row, first row in another split)`` each,
    in the order found. Rows whose split is None are ignored."""
    first: dict[Hashable, int] = {}
    found: dict[Hashable, tuple[int, int]] = {}
    for i, (split, key) in enumerate(zip(splits, keys, strict=True)):
        if split is None:
            continue
        j = first.setdefault(key, i)
        if splits[j] != split and key not in found:
            found[key] = (j, i)
    return list(found.values())
