"""Plain functions behind ``polymodal cache info`` and ``polymodal cache clear``.

They take the cache folder (and options) and return what the command prints or counts; the CLI
wires them in. :mod:`polymodal.features` (which imports torch) is imported when a function is
called, not when this module is imported.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from os import PathLike
from pathlib import Path

from polymodal.errors import DataError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*", re.IGNORECASE)


def parse_duration(value: str | float | timedelta) -> float:
    """Seconds in ``value``: a number of seconds, a timedelta, or text such as ``90``, ``90s``,
    ``30m``, ``12h``, ``7d`` or ``2w``.

    Raises:
        DataError: text in another form, or a negative or infinite duration.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value)
        if match is None:
            raise DataError(
                f"cannot read the duration {value!r}",
                fix="write a number and a unit: 90s, 30m, 12h, 7d or 2w",
            )
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if not math.isfinite(seconds) or seconds < 0:
        raise DataError(f"a duration must be finite and >= 0, got {value!r}")
    return seconds


def format_bytes(size: int) -> str:
    """``size`` in B, KiB, MiB, GiB or TiB with one decimal (bytes as an integer)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024.0:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024.0
    return f"{value:.1f} TiB"


def _check_folder(cache_dir: Path) -> None:
    if cache_dir.exists() and not cache_dir.is_dir():
        raise DataError(
            "the cache path is not a folder", where=str(cache_dir), fix="give the cache folder"
        )


def cache_info(cache_dir: str | PathLike[str]) -> str:
    """A table of the cache's complete entries: fingerprint (first 16 hex digits), splits, size
    on disk and creation time (UTC), oldest first, then the total.

    Raises:
        DataError: ``cache_dir`` exists but is not a folder.
    """
    from polymodal.features import FeatureCache

    folder = Path(cache_dir)
    _check_folder(folder)
    entries = FeatureCache(folder).entries()
    if not entries:
        return f"no cached features in {folder}"
    rows = [
        (
            entry["fingerprint"][:16],
            ",".join(entry["splits"]),
            format_bytes(int(entry["bytes"])),
            datetime.fromtimestamp(entry["created"], tz=timezone.utc).strftime("%Y-%m-%d %H:%M"),
        )
        for entry in entries
    ]
    header = ("fingerprint", "splits", "size", "created (UTC)")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"feature cache {folder}: {len(entries)} entries"]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    total = sum(int(entry["bytes"]) for entry in entries)
    lines.append(f"total: {format_bytes(total)}")
    return "\n".join(lines)


def cache_clear(
    cache_dir: str | PathLike[str],
    *,
    older_than: str | float | timedelta | None = None,
) -> int:
    """Remove cache entries (all, or those created more than ``older_than`` ago) and the
    temporary folders of writers that are gone; returns the number of entries removed.

    Args:
        cache_dir: the cache folder (a missing folder has nothing to remove).
        older_than: seconds, a timedelta, or text like ``7d`` (see :func:`parse_duration`).

    Raises:
        DataError: ``cache_dir`` is not a folder, or ``older_than`` cannot be read.
    """
    from polymodal.features import FeatureCache

    folder = Path(cache_dir)
    _check_folder(folder)
    age = None if older_than is None else parse_duration(older_than)
    return FeatureCache(folder).clear(older_than=age)
