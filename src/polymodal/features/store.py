"""Storing and reading entries: :class:`FeatureCache` and the memory-mapped :class:`CachedFeatures`.

**Writes are atomic**: an entry is written into a temporary folder ``cache_dir/.tmp-<host>-<pid>-<
random>/`` and moved into place with one ``os.replace`` (a folder rename) after ``complete.json``
is written. A killed writer leaves only its temporary folder, which the next write or
:meth:`FeatureCache.clear` removes once its process is gone; of two concurrent writers of one
entry, the first rename wins and the other discards its copy and reads the winner's (both computed
the same features from the same fingerprint).
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from polymodal.data.schema import Batch, Sample
from polymodal.encoders.base import Encoder
from polymodal.errors import DataError
from polymodal.features import compute
from polymodal.features.fingerprint import fingerprint
from polymodal.features.layout import (
    ARRAYS,
    FORMAT_VERSION,
    HEX64,
    INDEX,
    MARKER,
    SPLIT_NAME,
    STALE_TEMP_SECONDS,
    TEMP_PREFIX,
    TRASH_PREFIX,
    CacheMiss,
    check_fingerprint,
    check_key,
    folder_bytes,
    host_name,
    pid_alive,
    read_record,
)


@dataclass(frozen=True)
class CachedItem:
    """One sample's cached features (what :class:`CachedModalityDataset` puts in
    ``Sample.inputs`` for a cached modality).

    Attributes:
        tokens: ``[T_i, D]`` (the sample's rows up to its last non-padding position).
        pooled: ``[D]``.
        padding_mask: bool ``[T_i]``, True at padding.
        present: bool ``[]``.
    """

    tokens: Tensor
    pooled: Tensor
    padding_mask: Tensor
    present: Tensor


class CachedFeatures:
    """The cached features of one split, memory-mapped (read-only).

    ``cached[row]`` is a :class:`CachedItem`; ``cached.ids[row]`` its sample id;
    :meth:`row_of` maps an id to its row. Pickling (for DataLoader workers) keeps only the path:
    arrays are mapped again in the worker.

    Attributes:
        path: the split's folder.
        fingerprint, split: the entry's key.
        ids: sample ids in row order.
        dim: feature width ``D``.
        dtype: the encoder's output dtype (features are returned in it).
    """

    def __init__(self, path: Path, fingerprint: str, split: str, index: dict[str, Any]) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.split = split
        self.ids: list[str] = list(index["ids"])
        self.dim = int(index["dim"])
        self.dtype: torch.dtype = getattr(torch, str(index["torch_dtype"]))
        self._rows: dict[str, int] | None = None
        self._arrays: dict[str, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None, "_rows": None}

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The memory-mapped arrays by name (see the module docs)."""
        if self._arrays is None:
            self._arrays = {n: np.load(self.path / f"{n}.npy", mmap_mode="r") for n in ARRAYS}
        return self._arrays

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, sample_id: str) -> int:
        """The row of ``sample_id``; a :class:`DataError` when the split has no such id."""
        if self._rows is None:
            self._rows = {sample_id: row for row, sample_id in enumerate(self.ids)}
        try:
            return self._rows[sample_id]
        except KeyError:
            raise DataError(
                f"sample {sample_id!r} is not in the cached features of split {self.split!r}",
                where=str(self.path),
                fix="the cache entry was built from other data: recompute it (its fingerprint "
                "must cover the dataset's ids), or clear the cache",
            ) from None

    def _tensor(self, array: np.ndarray) -> Tensor:
        return torch.from_numpy(np.array(array))  # copy: the map is read-only

    def __getitem__(self, row: int) -> CachedItem:
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} out of range for {len(self)} cached samples")
        arrays = self.arrays
        length = int(arrays["lengths"][row])
        return CachedItem(
            tokens=self._tensor(arrays["tokens"][row, :length]).to(self.dtype),  # [T_i, D]
            pooled=self._tensor(arrays["pooled"][row]).to(self.dtype),  # [D]
            padding_mask=self._tensor(arrays["padding_mask"][row, :length]),  # [T_i]
            present=torch.tensor(bool(arrays["present"][row])),
        )


class FeatureCache:
    """Frozen-encoder features on disk under ``cache_dir`` (see the module docs for the layout).

    Args:
        cache_dir: the cache's folder (created on the first write).
    """

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.root = Path(cache_dir)

    fingerprint = staticmethod(fingerprint)

    def path(self, fingerprint: str, split: str) -> Path:
        """The folder of an entry (which may not exist)."""
        check_key(fingerprint, split)
        return self.root / fingerprint / split

    # ---------------------------------------------------------------- reading

    def load(self, fingerprint: str, split: str) -> CachedFeatures:
        """The complete entry of ``(fingerprint, split)``.

        Raises:
            CacheMiss: there is none, or it is incomplete (no valid ``complete.json``, a file
                missing or of another size than recorded).
        """
        folder = self.path(fingerprint, split)
        marker = read_record(folder / MARKER)
        index = read_record(folder / INDEX)
        expected = (FORMAT_VERSION, fingerprint, split)
        if (marker.get("format"), marker.get("fingerprint"), marker.get("split")) != expected:
            raise CacheMiss("cache entry of another key or format", where=str(folder))
        for name, size in dict(marker.get("files", {})).items():
            file = folder / name
            if not file.is_file() or file.stat().st_size != size:
                raise CacheMiss(f"cache file {name} is missing or truncated", where=str(folder))
        if set(marker.get("files", {})) != {f"{n}.npy" for n in ARRAYS} | {INDEX}:
            raise CacheMiss("cache entry lists unexpected files", where=str(folder))
        return CachedFeatures(folder, fingerprint, split, index)

    def contains(self, fingerprint: str, split: str) -> bool:
        """True when a complete entry of ``(fingerprint, split)`` exists."""
        try:
            self.load(fingerprint, split)
        except CacheMiss:
            return False
        return True

    # ---------------------------------------------------------------- writing

    def get_or_compute(
        self,
        fingerprint: str,
        split: str,
        dataset: Dataset[Sample],
        encoder: Encoder,
        batch_size: int,
        collate: Callable[[list[Sample]], Batch],
    ) -> CachedFeatures:
        """The cached features of ``split``, computed and stored first when absent.

        On a miss, ``dataset`` is read in order in batches of ``batch_size``, collated by
        ``collate`` (e.g. :class:`~polymodal.data.collate.Collator`), and its modality
        ``encoder.modality`` encoded in eval mode without gradients, on the encoder's device (its
        train/eval mode is restored afterwards). The entry is written atomically (see the module
        docs).

        Raises:
            ConfigError: the encoder has trainable parameters (its features would go stale).
            DataError: bad key, duplicate sample ids, or a batch without the modality.
        """
        with contextlib.suppress(CacheMiss):  # a miss means: compute it below
            return self.load(fingerprint, split)
        compute.check_frozen(encoder)
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep_temps()
        temp = self._new_temp()
        try:
            entry = temp / split
            entry.mkdir()
            compute.write_entry(entry, fingerprint, split, dataset, encoder, batch_size, collate)
            self._publish(entry, fingerprint, split)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        return self.load(fingerprint, split)

    def _new_temp(self) -> Path:
        temp = self.root / f"{TEMP_PREFIX}{host_name()}-{os.getpid()}-{secrets.token_hex(6)}"
        temp.mkdir()
        return temp

    def _publish(self, entry: Path, fingerprint: str, split: str) -> None:
        """Move a finished entry into place with one rename; a complete entry already there (a
        concurrent writer won) is kept, a broken one is replaced."""
        target = self.path(fingerprint, split)
        for _ in range(5):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(entry, target)
                return
            except FileNotFoundError:  # a concurrent clear removed the parent: try again
                continue
            except OSError:  # target exists and is not empty
                if self.contains(fingerprint, split):
                    return  # lost the race: keep the winner's identical entry
                self._discard(target)  # a broken folder (not ours to keep)
        raise DataError(
            "could not move the cache entry into place",
            where=str(target),
            fix="check the cache folder's permissions, or clear the cache",
        )

    def _discard(self, folder: Path) -> None:
        """Remove ``folder`` by renaming it to a temporary name first (atomic for readers)."""
        grave = self.root / f"{TRASH_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        try:
            os.replace(folder, grave)
        except FileNotFoundError:
            return
        shutil.rmtree(grave, ignore_errors=True)

    def _sweep_temps(self) -> int:
        """Remove temporary folders whose writer is gone, and trash; returns how many.

        A temporary folder is abandoned when its writer's process (same host) no longer runs,
        or when it is older than :data:`STALE_TEMP_SECONDS`; folders of live writers are kept.
        """
        if not self.root.is_dir():
            return 0
        host = host_name()
        removed = 0
        now = time.time()
        for folder in self.root.iterdir():
            if folder.name.startswith(TRASH_PREFIX):
                stale = True
            elif folder.name.startswith(TEMP_PREFIX):
                parts = folder.name[len(TEMP_PREFIX) :].rsplit("-", 2)
                try:
                    stale = now - folder.stat().st_mtime > STALE_TEMP_SECONDS
                except FileNotFoundError:
                    continue
                if not stale and len(parts) == 3 and parts[0] == host and parts[1].isdigit():
                    pid = int(parts[1])
                    stale = pid != os.getpid() and not pid_alive(pid)
            else:
                continue
            if stale and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    # ---------------------------------------------------------------- listing and clearing

    def _entry_folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(f for f in self.root.iterdir() if f.is_dir() and HEX64.fullmatch(f.name))

    def _complete_splits(self, folder: Path) -> dict[str, float]:
        """``split -> created`` of the complete entries of one fingerprint folder."""
        out: dict[str, float] = {}
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if SPLIT_NAME.fullmatch(sub.name) and self.contains(folder.name, sub.name):
                out[sub.name] = float(read_record(sub / MARKER).get("created", 0.0))
        return out

    def entries(self) -> list[dict[str, Any]]:
        """Complete entries, one per fingerprint: ``fingerprint``, ``splits`` (sorted),
        ``bytes`` (size on disk of the fingerprint's folder) and ``created`` (POSIX time of its
        first split), oldest first."""
        out = []
        for folder in self._entry_folders():
            try:
                splits = self._complete_splits(folder)
            except FileNotFoundError:  # removed meanwhile
                continue
            if splits:
                out.append(
                    {
                        "fingerprint": folder.name,
                        "splits": sorted(splits),
                        "bytes": folder_bytes(folder),
                        "created": min(splits.values()),
                    }
                )
        return sorted(out, key=lambda e: (e["created"], e["fingerprint"]))

    def clear(
        self,
        fingerprint: str | None = None,
        *,
        older_than: float | timedelta | None = None,
    ) -> int:
        """Remove entries, and the temporary folders of writers that are gone.

        Args:
            fingerprint: remove only this entry (None: every entry).
            older_than: remove only entries created more than this long ago (seconds or a
                timedelta); folders holding no complete entry count as created at their
                modification time.

        Returns:
            The number of fingerprint folders removed.
        """
        if fingerprint is not None:
            check_fingerprint(fingerprint)
        age = older_than.total_seconds() if isinstance(older_than, timedelta) else older_than
        if age is not None and (not math.isfinite(age) or age < 0):
            raise DataError(f"older_than must be a duration >= 0, got {older_than!r}")
        now = time.time()
        removed = 0
        for folder in self._entry_folders():
            if fingerprint is not None and folder.name != fingerprint:
                continue
            if age is not None:
                try:
                    splits = self._complete_splits(folder)
                    created = min(splits.values()) if splits else folder.stat().st_mtime
                except FileNotFoundError:
                    continue
                if now - created <= age:
                    continue
            self._discard(folder)
            removed += 1
        self._sweep_temps()
        return removed
