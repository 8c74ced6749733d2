"""Reading manifest files: JSONL (or NDJSON), CSV and Parquet rows, cells normalised."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from polymodal.errors import DataError

_FORMATS = (".jsonl", ".ndjson", ".csv", ".parquet")


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value == "" else value


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, huge ints
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise DataError(
                    f"line {line_no} is not valid JSON ({reason})",
                    where=str(path),
                    fix="write one JSON object per line",
                ) from None
            if not isinstance(row, dict):
                raise DataError(
                    f"line {line_no} is a JSON {type(row).__name__}, not an object",
                    where=str(path),
                    fix='write one object per line, e.g. {"id": "a", "label": 1}',
                )
            rows.append(row)
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    try:
        return _read_csv_rows(path)
    except csv.Error as exc:  # e.g. a cell longer than the csv module's field size limit
        raise DataError(
            f"cannot parse CSV ({exc})", where=str(path), fix="check quoting and cell sizes"
        ) from None


def _read_csv_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, restkey="\0extra")
        header = reader.fieldnames or []
        if len(set(header)) != len(header):
            dupes = sorted({c for c in header if header.count(c) > 1})
            raise DataError(
                f"duplicate column names {dupes}",
                where=str(path),
                fix="give every column of the header a unique, non-empty name",
            )
        rows = []
        for number, row in enumerate(reader, start=1):
            if "\0extra" in row:
                raise DataError(
                    f"row {number} has more cells than the header has columns",
                    where=str(path),
                    fix="quote cells that contain commas",
                )
            rows.append(row)
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read Parquet file ({exc})",
            where=str(path),
            fix="check that it is a complete Parquet file (e.g. written by pandas.to_parquet)",
        ) from None


def _not_utf8(path: Path) -> DataError:
    """The error of a file that is not UTF-8: its line (a JSONL row, a CSV line counting the
    header) and the byte offset of the first invalid byte, in the file and in the line."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
        offset = 0  # decodes as a whole: a reader's chunk boundary; report the start
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
    line_start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    return DataError(
        f"manifest is not UTF-8: line {line}, byte offset {offset - line_start} in the line "
        f"(offset {offset} in the file, byte 0x{raw[offset]:02x})",
        where=str(path),
        fix="save the manifest as UTF-8",
    )


def read_manifest(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of a ``.jsonl`` (or ``.ndjson``), ``.csv`` or ``.parquet`` manifest.

    Returns:
        ``(rows, columns)``: each row maps every column to its cell, with empty strings and
        absent JSON keys as None; columns in first-seen order. CSV cells are strings.

    Raises:
        DataError: the file is missing, of another format, not UTF-8, malformed, or empty.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _FORMATS:
        raise DataError(
            f"unsupported manifest format {p.suffix!r}",
            where=str(p),
            fix=f"use one of: {', '.join(_FORMATS)}",
        )
    if not p.is_file():
        raise DataError("manifest file not found", where=str(p), fix="check the path")
    try:
        if suffix == ".parquet":
            raw = _read_parquet(p)
        elif suffix == ".csv":
            raw = _read_csv(p)
        else:
            raw = _read_jsonl(p)
    except UnicodeDecodeError:
        raise _not_utf8(p) from None
    if not raw:
        raise DataError("manifest has no rows", where=str(p), fix="add one row per sample")
    columns = list(dict.fromkeys(key for row in raw for key in row))
    rows = [{c: _blank_to_none(row.get(c)) for c in columns} for row in raw]
    return rows, columns
