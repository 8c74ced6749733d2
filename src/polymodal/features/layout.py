"""The on-disk layout of the feature cache: names, entry records, key checks, file helpers.

An entry of ``(fingerprint, split)`` lives in ``cache_dir/<fingerprint>/<split>/`` (see
:mod:`polymodal.features` for its files); writers work in ``cache_dir/.tmp-<host>-<pid>-<random>/``
and removals go through ``cache_dir/.trash-<pid>-<random>/``.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polymodal.errors import DataError

FORMAT_VERSION = 1
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
MARKER = "complete.json"
INDEX = "index.json"
ARRAYS = ("tokens", "pooled", "padding_mask", "present", "lengths")
STALE_TEMP_SECONDS = 24 * 3600.0
"""A temporary folder of another host (or of a live pid, in case of pid reuse) older than this is
considered abandoned."""

HEX64 = re.compile(r"[0-9a-f]{64}")
SPLIT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
NUMPY_DTYPES = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.float16: np.float16,
    torch.bfloat16: np.float32,  # numpy has no bfloat16: stored as float32 (exact), cast back
}


class CacheMiss(DataError):
    """No complete cache entry for a fingerprint and split."""


def write_json(path: Path, document: Any) -> None:
    """Write ``document`` as JSON and flush it to disk."""
    with path.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())


def save_array(path: Path, array: np.ndarray) -> None:
    """Write one ``.npy`` file (a batch chunk, temporary: not synced to disk)."""
    with path.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def read_record(path: Path) -> dict[str, Any]:
    """A JSON object of an entry (index or marker); :class:`CacheMiss` when it is missing or
    not a readable JSON object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CacheMiss("no complete cache entry", where=str(path.parent)) from None
    if not isinstance(document, dict):
        raise CacheMiss(f"{path.name} is not a JSON object", where=str(path.parent))
    return document


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:  # removed meanwhile by a concurrent clear
                continue
    return total


def host_name() -> str:
    """This machine's name, usable in a folder name (no '-')."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def check_fingerprint(fingerprint: str) -> None:
    if not HEX64.fullmatch(fingerprint):
        raise DataError(
            f"not a cache fingerprint: {fingerprint!r}",
            fix="use polymodal.features.fingerprint(...) (64 lowercase hex digits)",
        )


def check_key(fingerprint: str, split: str) -> None:
    check_fingerprint(fingerprint)
    if not SPLIT_NAME.fullmatch(split):
        raise DataError(
            f"invalid split name {split!r} for the cache",
            fix="use letters, digits, '_', '-' or '.', not starting with '.'",
        )
