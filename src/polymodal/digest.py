"""Content digests shared by every cache: canonical JSON, tensors and files, hashed with SHA-256.

A cache key is the SHA-256 of a *canonical* JSON document (:func:`canonical`: keys sorted, plain
values only, no whitespace), so two equal descriptions give one key whatever their key order or
container types. The feature cache (:mod:`polymodal.features.fingerprint`) and the cache of
derived modalities (:mod:`polymodal.data.derive`) build their keys with these functions.

Example:
    >>> digest_json({"b": 1, "a": [1, 2]}) == digest_json({"a": (1, 2), "b": 1})
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from polymodal.errors import DataError

_PLAIN = (bool, int, float, str, type(None))
_CHUNK = 1 << 20  # bytes read at a time when hashing a file


def canonical(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (dict keys as strings), or a :class:`DataError` naming
    ``where`` (the value's path, for the message)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {str(k): canonical(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v, where) for v in value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return canonical(dataclasses.asdict(value), where)
    if hasattr(value, "model_dump"):  # pydantic models (configs)
        return canonical(value.model_dump(), where)
    raise DataError(
        f"cannot fingerprint a value of type {type(value).__name__}",
        where=where,
        fix="pass JSON-like values (dict, list, str, number, bool, None) in config and extra",
    )


def digest_json(document: Any) -> str:
    """SHA-256 (64 hex digits) of ``document`` as canonical JSON (keys sorted, no spaces)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def update_tensor(hasher: Any, tensor: Tensor) -> None:
    """Feed a tensor's dtype, shape and raw bytes (contiguous, on CPU) to ``hasher``."""
    t = tensor.detach().cpu().contiguous()
    hasher.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
    hasher.update(t.reshape(-1).view(torch.uint8).numpy())


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes. Remembered per process by (resolved path, size, mtime in ns),
    so a large file (a model's weights) is read once per process unless it changes."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        hasher = hashlib.sha256()
        with resolved.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
        _FILE_DIGESTS[key] = hasher.hexdigest()
    return _FILE_DIGESTS[key]


def folder_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 over a folder's files (hidden ones ignored): each file's relative path and
    :func:`file_digest`, by sorted path. A file's digest for a plain file."""
    root = Path(path)
    if root.is_file():
        return file_digest(root)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    return digest_json([[p.relative_to(root).as_posix(), file_digest(p)] for p in files])
