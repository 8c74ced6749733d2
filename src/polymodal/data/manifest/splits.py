"""Each manifest row's split: from the split column (with a validation split carved out of
train when it has none), or drawn at random by group (:mod:`polymodal.data.splits`)."""

from __future__ import annotations

from typing import Any

from polymodal.data.manifest.errors import MAX_LISTED
from polymodal.data.splits import (
    carve_validation,
    group_keys,
    random_group_split,
    straddling_groups,
)
from polymodal.errors import DataError

_SPLIT_ALIASES = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
}


def split_of(cell: Any) -> str | None:
    """The split a split-column cell names (aliases, case and surrounding spaces ignored), or
    None for anything else."""
    return _SPLIT_ALIASES.get(cell.strip().lower()) if isinstance(cell, str) else None


def assign_splits(
    rows: list[dict[str, Any]],
    split_column: str | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    group_column: str | None = None,
    where: str = "manifest",
) -> list[str | None]:
    """Each row's split; None for an unknown split value (a bad row).

    Random splits draw whole groups (rows sharing ``group_column``'s value; without it each row
    is its own group), seeded by ``seed`` (:func:`~polymodal.data.splits.random_group_split`).
    With a split column and no ``val`` row, ``val_fraction`` of the training groups become
    the validation split (:func:`~polymodal.data.splits.carve_validation`).

    Raises:
        DataError: with a split column, a group whose rows are in two splits.
    """
    cells = [None if group_column is None else row[group_column] for row in rows]
    groups = group_keys(cells)
    if split_column is None:
        return list(random_group_split(groups, val_fraction, test_fraction, seed))
    splits = [split_of(row[split_column]) for row in rows]
    if group_column is not None:
        _check_group_splits(rows, splits, groups, group_column, where)
    if "val" not in splits:  # carve a validation split out of train, by group
        splits = carve_validation(splits, groups, val_fraction, seed)
    return splits


def _check_group_splits(
    rows: list[dict[str, Any]],
    splits: list[str | None],
    groups: list[str],
    group_column: str,
    where: str,
) -> None:
    """A DataError listing the groups whose rows the split column puts in two splits."""
    spanning = [
        f"  - {group_column} {rows[i][group_column]!r}: row {j + 1} is {splits[j]}, "
        f"row {i + 1} is {splits[i]}"
        for j, i in straddling_groups(splits, groups)[:MAX_LISTED]
    ]  # an unknown split (None) is a bad row, reported as such
    if spanning:
        raise DataError(
            f"rows of one {group_column!r} group are in two splits:\n" + "\n".join(spanning),
            where=where,
            fix=f"give every row of a {group_column!r} group the same split, or drop "
            "group_column (or split_column, for a random split by group)",
        )
