"""An on-disk cache of endpoint responses, keyed by the request.

The key is the sha256 of the canonical JSON of ``(url, payload)`` (sorted keys, no spaces): the
same request (same messages, images, model and decoding settings) always hits the same entry,
and any change misses. Each entry is one JSON file ``<key[:2]>/<key>.json`` written atomically, so
an evaluation killed at any moment leaves only complete entries, and running it again calls the
endpoint only for the requests it had not finished. Only successful responses are stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from polymodal.io import write_json_atomic


def request_key(url: str, payload: dict[str, Any]) -> str:
    """The cache key of a request: sha256 hex of canonical JSON of ``(url, payload)``."""
    text = json.dumps([url, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Responses by request key in folder ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response of ``key``, or None (a corrupt entry counts as missing)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, response: dict[str, Any]) -> None:
        """Store ``response`` under ``key`` (atomic: never a half-written entry)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, response, indent=None)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0
