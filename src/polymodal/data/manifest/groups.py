"""Merging the rows of one group into one generation sample (see
:mod:`polymodal.data.manifest.references`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polymodal.data.bundle import SkippedRow
from polymodal.data.manifest.rows import Checked


def group_members(group_values: Sequence[Any]) -> list[list[int]]:
    """Positions of the rows of each group, groups in order of their first row; an empty
    (None) value is a group of its own."""
    groups: dict[Any, list[int]] = {}
    for i, value in enumerate(group_values):
        key = ("\0row", i) if value is None else ("\0value", str(value))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def differing_items(keys: Sequence[dict[str, str | None]], group: list[int]) -> list[str]:
    """The modalities whose item differs between the rows of ``group`` (none: they agree)."""
    first = keys[group[0]]
    return [m for m in first if any(keys[i][m] != first[m] for i in group[1:])]


def merge_groups(checked: Checked, group_column: str) -> Checked:
    """One record per group of ``group_column`` (see the module docs): the first row's record
    with every row's references (``checked.raw_labels``), in row order. A group whose rows name
    different items of a modality becomes bad rows (one per row, the reason naming the first)."""
    records = checked.records
    out = Checked([], [], [], list(checked.bad))
    for group in group_members([r.row.get(group_column) for r in records]):
        first = records[group[0]]
        differ = differing_items([r.keys for r in records], group)
        if differ:
            reason = (
                f"rows of group {first.row.get(group_column)!r} name different "
                f"{', '.join(differ)} items (row {first.number} names {first.keys[differ[0]]!r})"
            )
            for i in group:
                rec = records[i]
                out.bad.append((rec.number, SkippedRow(rec.id, rec.split, differ[0], reason)))
            continue
        out.records.append(first)
        out.raw_labels.append(tuple(t for i in group for t in checked.raw_labels[i]))
        out.decoded.append(checked.decoded[group[0]])
    out.bad.sort(key=lambda b: b[0])
    return out
