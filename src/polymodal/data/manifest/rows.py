"""The check pass: every row's id, split, label and inputs checked and decoded once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.data.bundle import SkippedRow
from polymodal.data.manifest.dataset import Record, check_inputs
from polymodal.data.manifest.errors import RowError
from polymodal.data.manifest.fields import Field
from polymodal.data.manifest.labels import Labels, name_of
from polymodal.errors import DataError


def read_row_id(row: dict[str, Any], number: int, id_column: str | None) -> str:
    """A row's id: its ``id_column`` cell (a string, stripped, or an integer), else its number."""
    if id_column is None:
        return str(number)
    value = row[id_column]
    if value is None:
        raise RowError(id_column, "the id is empty")
    if isinstance(value, str):
        return value.strip()
    try:
        return name_of(value, id_column)
    except RowError:
        raise RowError(id_column, f"expected a string or integer id, got {value!r}") from None


def optional_column(
    value: str | None, default: str, columns: list[str], what: str, where: str
) -> str | None:
    """``value`` if the manifest has it; None when it is the default and absent."""
    if value is None or value in columns:
        return value
    if value == default:
        return None
    raise DataError(
        f"{what} column {value!r} not found (columns: {', '.join(columns)})",
        where=where,
        fix=f"set {what}_column to one of the columns, or to null",
    )


def check_columns(columns: list[str], needed: list[str], where: str) -> None:
    """A DataError naming the ``needed`` columns the manifest lacks, with the available ones."""
    missing = [c for c in dict.fromkeys(needed) if c not in columns]
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not found "
            f"(available columns: {', '.join(columns)})",
            where=where,
            fix="fix the column names in the config (modalities, label, group_column) or in "
            "the manifest",
        )


@dataclass
class Checked:
    """The outcome of the check pass: good rows with their raw labels and decoded inputs."""

    records: list[Record]
    raw_labels: list[Any]
    decoded: list[dict[str, Any]]
    bad: list[tuple[int, SkippedRow]]  # (row number, what was wrong)


def check_rows(
    manifest: Path,
    rows: list[dict[str, Any]],
    splits: list[str | None],
    fields: dict[str, Field],
    labels: Labels,
    id_column: str | None,
    split_column: str | None,
) -> Checked:
    """Check and decode every row once; a row's first problem makes it a bad row."""
    out = Checked([], [], [], [])
    first_seen: dict[str, int] = {}
    memo: dict[tuple[str, str], Any] = {}  # each file decoded once
    for number, (row, split) in enumerate(zip(rows, splits, strict=True), start=1):
        row_id = f"row {number}"
        try:
            row_id = read_row_id(row, number, id_column)
            if row_id in first_seen:
                raise RowError(
                    id_column or "id", f"duplicate id (first at row {first_seen[row_id]})"
                )
            first_seen[row_id] = number
            if split is None:
                raise RowError(
                    split_column or "split",
                    f"unknown split {row[split_column or 'split']!r} (use train, val or test; "
                    "valid, validation and dev also mean val)",
                )
            raw_label = labels.raw(row)
            where = f"{manifest}, row {number} (id {row_id!r})"
            decoded, keys = check_inputs(row, fields, where, memo)
        except RowError as exc:
            out.bad.append((number, SkippedRow(row_id, split, exc.field, exc.reason, exc.path)))
            continue
        out.records.append(Record(number, row_id, split, row, None, keys))
        out.raw_labels.append(raw_label)
        out.decoded.append(decoded)
    return out
