"""Bad rows of a manifest: the error a row check raises, and the error listing them all."""

from __future__ import annotations

from pathlib import Path

from polymodal.data.bundle import SkippedRow
from polymodal.errors import DataError

MAX_LISTED = 20  # bad rows listed in one error message


class RowError(Exception):
    """A bad row: which field, what is wrong, and the path concerned (internal)."""

    def __init__(self, field: str, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.path = path


def loader_error(field: str, error: DataError, path: str | None) -> RowError:
    return RowError(field, error.what, path)


def bad_rows_error(manifest: Path, bad: list[tuple[int, SkippedRow]]) -> DataError:
    lines = []
    for number, s in bad[:MAX_LISTED]:
        path = f", path {s.path!r}" if s.path else ""
        lines.append(f"  - row {number} (id {s.id!r}), field {s.field!r}{path}: {s.reason}")
    if len(bad) > MAX_LISTED:
        lines.append(f"  - ... and {len(bad) - MAX_LISTED} more")
    noun = "row" if len(bad) == 1 else "rows"
    return DataError(
        f"{len(bad)} bad {noun} in the manifest:\n" + "\n".join(lines),
        where=str(manifest),
        fix="correct or remove these rows, or set bad_rows: skip to leave them out "
        "(each is then recorded with its reason in the skipped rows)",
    )
