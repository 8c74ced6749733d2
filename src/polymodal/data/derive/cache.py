"""The cache of derived values: computed once per (deriver, source file content), read back after.

Keys use the feature cache's fingerprinting (:mod:`polymodal.digest`: SHA-256 of canonical JSON):

- the *deriver fingerprint* :func:`deriver_fingerprint` covers the cache format, the deriver's
  :meth:`~polymodal.data.derive.base.Deriver.identity` (its name, options and a digest of its
  weights) and how the source is read (``reading``: sample rate, clipping);
- the *source digest* is the SHA-256 of the source file's bytes
  (:func:`~polymodal.digest.file_digest`), so renaming or moving a clip keeps its entry and
  editing it makes a new one.

Layout under the cache folder (which the config names: ``data.derived_cache``; nothing is written
anywhere else)::

    <cache>/<deriver fingerprint>/deriver.json          the identity document, for people
    <cache>/<deriver fingerprint>/<source digest>.json  {"value": ..., "source": "clips/a.mp4"}

Each entry is written atomically (:func:`polymodal.io.write_json_atomic`), so a killed run leaves
whole entries or none; two runs deriving one clip at once write the same value.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from polymodal.data.derive.base import Deriver
from polymodal.digest import canonical, digest_json
from polymodal.io import write_json_atomic

FORMAT_VERSION = 1
IDENTITY_FILE = "deriver.json"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def deriver_fingerprint(deriver: Deriver, reading: dict[str, Any]) -> str:
    """The key (64 hex digits) of ``deriver``'s outputs when its inputs are read as ``reading``
    says (e.g. ``{"sample_rate": 16000, "max_seconds": None}``)."""
    return digest_json(_document(deriver, reading))


def _document(deriver: Deriver, reading: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "deriver": canonical(deriver.identity(), "deriver"),
        "source_kind": deriver.source_kind,
        "output_kind": deriver.output_kind,
        "reading": canonical(reading, "reading"),
    }


class DerivedCache:
    """Derived values of one deriver fingerprint, stored under ``root`` (see the module docs).

    Args:
        root: the cache folder (created on the first write).
        deriver: the deriver whose values are stored.
        reading: how sources are read (part of the key).

    Attributes:
        fingerprint: the deriver fingerprint (:func:`deriver_fingerprint`).
        computed, reused: values written and values read back since this object was made.
    """

    def __init__(
        self, root: str | os.PathLike[str], deriver: Deriver, reading: dict[str, Any]
    ) -> None:
        self.root = Path(root)
        self.document = _document(deriver, reading)
        self.fingerprint = digest_json(self.document)
        self.computed = 0
        self.reused = 0

    @property
    def folder(self) -> Path:
        return self.root / self.fingerprint

    def path(self, source_digest: str) -> Path:
        if not _HEX64.fullmatch(source_digest):
            raise ValueError(f"not a SHA-256 digest: {source_digest!r}")
        return self.folder / f"{source_digest}.json"

    def get(self, source_digest: str) -> tuple[bool, Any]:
        """``(True, value)`` when an entry exists, else ``(False, None)``; an unreadable entry
        (cut short by hand) counts as absent and is rewritten by :meth:`put`."""
        try:
            document = json.loads(self.path(source_digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False, None
        if not isinstance(document, dict) or "value" not in document:
            return False, None
        self.reused += 1
        return True, document["value"]

    def put(self, source_digest: str, value: Any, source: str) -> None:
        """Store ``value`` (JSON-like) for ``source_digest``; ``source`` names the file it came
        from (for people reading the cache)."""
        identity = self.folder / IDENTITY_FILE
        if not identity.is_file():
            write_json_atomic(identity, self.document)
        write_json_atomic(self.path(source_digest), {"value": value, "source": source})
        self.computed += 1
