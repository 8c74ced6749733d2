"""Feature cache for frozen encoders: encode a split once, reuse its features in every epoch.

A frozen encoder (no trainable parameter) gives the same :class:`~polymodal.data.schema.Features`
for a sample in every epoch, so they can be computed once and read back. Features of one split
are stored as memory-mapped numpy arrays under ``cache_dir/<fingerprint>/<split>/``:

==================  ==========================  =============================================
file                array                       meaning
==================  ==========================  =============================================
``tokens.npy``      float ``[N, T_max, D]``     tokens as the encoder gave them, zeros past
                                                each batch's length; ``T_max`` = the split's
                                                longest
``pooled.npy``      float ``[N, D]``            pooled features
``padding_mask.npy`` bool ``[N, T_max]``        True at padding (the encoder's mask, then
                                                True up to ``T_max``)
``present.npy``     bool ``[N]``                sample has the modality
``lengths.npy``     int64 ``[N]``               last non-padding position + 1 of each row
``index.json``                                  ids in row order (row ``i`` = ``ids[i]``),
                                                dtype, width
``complete.json``                               marker written last; checked on load
==================  ==========================  =============================================

**Fingerprint** (:func:`fingerprint`): SHA-256 of a canonical JSON document holding the cache
format, the torch version, the encoder's class, its config (name and params) when given, its
structure (each submodule's class, ``extra_repr`` and plain attributes such as ``max_grid``), a
hash of its weights (every parameter and buffer, names sorted), the modality spec, the caller's
``extra`` (put the preprocessing state there) and a digest of the data. :func:`dataset_digest`
hashes every sample id and every preprocessed input tensor (dtype, shape, bytes) of the modality
over all splits, so any change of data, ids or preprocessing gives another fingerprint; a caller
may pass its own content hash instead.

**Writes are atomic**: an entry is written into a temporary folder ``cache_dir/.tmp-<host>-<pid>-<
random>/`` and moved into place with one ``os.replace`` (a folder rename) after ``complete.json``
is written. A killed writer leaves only its temporary folder, which the next write or
:meth:`FeatureCache.clear` removes once its process is gone; of two concurrent writers of one
entry, the first rename wins and the other discards its copy and reads the winner's (both computed
the same features from the same fingerprint).

**Using cached features** in a model, for the frozen encoder of modality ``m``::

    cache = FeatureCache(cache_dir)
    digest = dataset_digest(bundle.splits, m)
    key = fingerprint(encoder, spec, digest, {"state": bundle.state}, config=encoder_config)
    cached = {m: cache.get_or_compute(key, "train", train_set, encoder, 64, Collator(specs))}
    dataset = CachedModalityDataset(train_set, cached)       # samples carry CachedItem for m
    collate = CachedCollator(specs, cached=[m])             # batches carry CachedModalityBatch
    model.encoders[m] = CachedEncoder.from_encoder(encoder)  # returns the cached Features

Features are computed in eval mode. A model whose frozen encoder is swapped for a
:class:`CachedEncoder` gives, in eval mode, exactly the outputs of the original when batches are
the ones the cache was computed with, and the same up to float rounding otherwise (some layers,
e.g. convolutions, round differently with the batch size).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from polymodal.data.collate import collate_samples
from polymodal.data.schema import Batch, Features, ModalityBatch, ModalitySpec, Sample
from polymodal.encoders.base import Encoder
from polymodal.errors import ConfigError, DataError

_LOG = logging.getLogger("polymodal")

FORMAT_VERSION = 1
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
MARKER = "complete.json"
INDEX = "index.json"
ARRAYS = ("tokens", "pooled", "padding_mask", "present", "lengths")
STALE_TEMP_SECONDS = 24 * 3600.0
"""A temporary folder of another host (or of a live pid, in case of pid reuse) older than this is
considered abandoned."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPLIT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_PLAIN = (bool, int, float, str, type(None))
_NUMPY_DTYPES = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.float16: np.float16,
    torch.bfloat16: np.float32,  # numpy has no bfloat16: stored as float32 (exact), cast back
}


class CacheMiss(DataError):
    """No complete cache entry for a fingerprint and split."""


# ------------------------------------------------------------------------------------------------
# Fingerprints
# ------------------------------------------------------------------------------------------------


def _canonical(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (dict keys as strings), or a :class:`DataError`."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(v, where) for v in value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical(dataclasses.asdict(value), where)
    if hasattr(value, "model_dump"):  # pydantic models (configs)
        return _canonical(value.model_dump(), where)
    raise DataError(
        f"cannot fingerprint a value of type {type(value).__name__}",
        where=where,
        fix="pass JSON-like values (dict, list, str, number, bool, None) in config and extra",
    )


def _digest_json(document: Any) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _update_tensor(hasher: Any, tensor: Tensor) -> None:
    """Feed a tensor's dtype, shape and raw bytes (contiguous, on CPU) to ``hasher``."""
    t = tensor.detach().cpu().contiguous()
    hasher.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
    hasher.update(t.reshape(-1).view(torch.uint8).numpy())


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer of ``module`` (persistent or not), by sorted name:
    name, dtype, shape and bytes of each."""
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    hasher = hashlib.sha256()
    for name in sorted(tensors):
        hasher.update(name.encode("utf-8") + b"\0")
        _update_tensor(hasher, tensors[name])
    return hasher.hexdigest()


def _is_plain(value: Any) -> bool:
    """True for numbers, strings, flags, None and lists / tuples / dicts of them."""
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain_attributes(module: nn.Module) -> dict[str, Any]:
    """Public plain attributes of a module (``training`` excluded); modules, tensors and other
    objects are left out: weights and structure cover them."""
    return {
        key: _canonical(value, key)
        for key, value in sorted(vars(module).items())
        if not key.startswith("_") and key != "training" and _is_plain(value)
    }


def describe_module(module: nn.Module) -> list[dict[str, Any]]:
    """Each submodule (the root first, then by name): its class, ``extra_repr`` and plain
    attributes (numbers, strings, flags and containers of them; ``training`` excluded)."""
    return [
        {
            "name": name,
            "class": f"{type(sub).__module__}.{type(sub).__qualname__}",
            "repr": sub.extra_repr(),
            "attributes": _plain_attributes(sub),
        }
        for name, sub in sorted(module.named_modules(), key=lambda item: item[0])
    ]


def _spec_document(spec: ModalitySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind,
        "shape": list(spec.shape),
        "vocab_size": spec.vocab_size,
        "pad_id": spec.pad_id,
        "meta": _canonical(spec.meta, "spec.meta"),
    }


def dataset_digest(data: Dataset[Sample] | Mapping[str, Dataset[Sample]], modality: str) -> str:
    """SHA-256 of a dataset's content for one modality: per split (sorted by name), its size,
    then each sample's id and its input tensor (dtype, shape, bytes; absent inputs marked).

    Args:
        data: one map-style dataset of :class:`Sample`, or ``split name -> dataset`` (e.g.
            ``DataBundle.splits``).
        modality: the modality whose inputs are hashed.

    Raises:
        DataError: a sample's input for ``modality`` is neither a tensor nor None.
    """
    splits = data if isinstance(data, Mapping) else {"": data}
    hasher = hashlib.sha256()
    for name in sorted(splits):
        dataset = splits[name]
        size = len(dataset)  # type: ignore[arg-type]
        hasher.update(f"split|{name}|{size}|".encode())
        for index in range(size):
            sample = dataset[index]
            hasher.update(b"id|" + sample.id.encode("utf-8") + b"\0")
            value = sample.inputs.get(modality)
            if value is None:
                hasher.update(b"absent|")
            elif isinstance(value, Tensor):
                _update_tensor(hasher, value)
            else:
                raise DataError(
                    f"input of modality {modality!r} is a {type(value).__name__}, not a tensor",
                    where=f"sample {sample.id} of split {name!r}",
                    fix="hash the preprocessed dataset, not one wrapped in CachedModalityDataset",
                )
    return hasher.hexdigest()


def fingerprint(
    encoder: nn.Module,
    spec: ModalitySpec,
    dataset_digest: str,
    extra: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
) -> str:
    """The cache key (64 hex digits) of ``encoder``'s features of a dataset's modality ``spec``.

    Covers the cache format, ``torch.__version__``, the encoder's class, ``config`` (its
    component name and params, e.g. ``{"name": "cnn", "params": {...}}``), its structure
    (:func:`describe_module`), its weights (:func:`weights_digest`), ``spec`` (meta included),
    ``dataset_digest`` (from :func:`dataset_digest`, or any content hash of the data) and
    ``extra`` (e.g. ``{"state": bundle.state}``: preprocessing state). Changing any of them
    changes the fingerprint.

    Raises:
        DataError: ``config`` or ``extra`` holds a value that is not JSON-like.
    """
    document = {
        "format": FORMAT_VERSION,
        "torch": torch.__version__,
        "encoder_class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        "encoder_config": _canonical(config, "config"),
        "encoder_structure": describe_module(encoder),
        "weights": weights_digest(encoder),
        "spec": _spec_document(spec),
        "dataset": str(dataset_digest),
        "extra": _canonical(extra, "extra"),
    }
    return _digest_json(document)


# ------------------------------------------------------------------------------------------------
# Reading an entry
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# The cache
# ------------------------------------------------------------------------------------------------


def _write_json(path: Path, document: Any) -> None:
    """Write ``document`` as JSON and flush it to disk."""
    with path.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())


def _save_array(path: Path, array: np.ndarray) -> None:
    """Write one ``.npy`` file (a batch chunk, temporary: not synced to disk)."""
    with path.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _read_record(path: Path) -> dict[str, Any]:
    """A JSON object of an entry (index or marker); :class:`CacheMiss` when it is missing or
    not a readable JSON object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CacheMiss("no complete cache entry", where=str(path.parent)) from None
    if not isinstance(document, dict):
        raise CacheMiss(f"{path.name} is not a JSON object", where=str(path.parent))
    return document


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:  # removed meanwhile by a concurrent clear
                continue
    return total


def _host() -> str:
    """This machine's name, usable in a folder name (no '-')."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _check_fingerprint(fingerprint: str) -> None:
    if not _HEX64.fullmatch(fingerprint):
        raise DataError(
            f"not a cache fingerprint: {fingerprint!r}",
            fix="use polymodal.data.cache.fingerprint(...) (64 lowercase hex digits)",
        )


def _check_key(fingerprint: str, split: str) -> None:
    _check_fingerprint(fingerprint)
    if not _SPLIT.fullmatch(split):
        raise DataError(
            f"invalid split name {split!r} for the cache",
            fix="use letters, digits, '_', '-' or '.', not starting with '.'",
        )


def _check_frozen(encoder: nn.Module) -> None:
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    if trainable:
        modality = getattr(encoder, "modality", "?")
        raise ConfigError(
            [
                f"encoder of modality {modality!r} has {len(trainable)} trainable parameter "
                f"tensors (e.g. {trainable[0]!r}); its features change while training, so they "
                "cannot be cached: freeze it (train_mode: frozen, no out_dim projection) or turn "
                "the feature cache off"
            ]
        )


def _device_of(module: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (CPU when it has none)."""
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return torch.device("cpu") if first is None else first.device


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
        _check_key(fingerprint, split)
        return self.root / fingerprint / split

    # ---------------------------------------------------------------- reading

    def load(self, fingerprint: str, split: str) -> CachedFeatures:
        """The complete entry of ``(fingerprint, split)``.

        Raises:
            CacheMiss: there is none, or it is incomplete (no valid ``complete.json``, a file
                missing or of another size than recorded).
        """
        folder = self.path(fingerprint, split)
        marker = _read_record(folder / MARKER)
        index = _read_record(folder / INDEX)
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
        _check_frozen(encoder)
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep_temps()
        temp = self._new_temp()
        try:
            entry = temp / split
            entry.mkdir()
            _write_entry(entry, fingerprint, split, dataset, encoder, batch_size, collate)
            self._publish(entry, fingerprint, split)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        return self.load(fingerprint, split)

    def _new_temp(self) -> Path:
        temp = self.root / f"{TEMP_PREFIX}{_host()}-{os.getpid()}-{secrets.token_hex(6)}"
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
        host = _host()
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
                    stale = pid != os.getpid() and not _pid_alive(pid)
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
        return sorted(f for f in self.root.iterdir() if f.is_dir() and _HEX64.fullmatch(f.name))

    def _complete_splits(self, folder: Path) -> dict[str, float]:
        """``split -> created`` of the complete entries of one fingerprint folder."""
        out: dict[str, float] = {}
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if _SPLIT.fullmatch(sub.name) and self.contains(folder.name, sub.name):
                out[sub.name] = float(_read_record(sub / MARKER).get("created", 0.0))
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
                        "bytes": _folder_bytes(folder),
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
            _check_fingerprint(fingerprint)
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


class _Progress:
    """Logs ``what: done/total`` on the ``polymodal`` logger at most every ``every`` seconds
    (encoding a split with a pretrained encoder can take minutes), and the total time at the end."""

    def __init__(self, what: str, total: int, every: float = 15.0) -> None:
        self.what, self.total, self.every = what, total, every
        self.start = self.last = time.perf_counter()
        _LOG.info("%s: %d samples", what, total)

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            rate = done / max(now - self.start, 1e-9)
            left = (self.total - done) / max(rate, 1e-9)
            _LOG.info(
                "%s: %d/%d (%.1f/s, about %.0f s left)", self.what, done, self.total, rate, left
            )

    def done(self, done: int) -> None:
        _LOG.info("%s: %d done in %.1f s", self.what, done, time.perf_counter() - self.start)


def _content_key(value: Any) -> tuple[Any, ...]:
    """A key equal for equal inputs: dtype, shape and a SHA-256 of the bytes (None: absent)."""
    if not isinstance(value, Tensor):
        return ("absent",) if value is None else ("object", id(value))
    data = value.detach().cpu().contiguous()
    if data.dtype == torch.bfloat16:
        data = data.view(torch.int16)
    digest = hashlib.sha256(data.numpy().tobytes()).hexdigest()
    return (str(value.dtype), tuple(value.shape), digest)


def _distinct_rows(dataset: Dataset[Sample], modality: str) -> tuple[list[str], np.ndarray]:
    """The ids of ``dataset`` and, per row, the first row with an equal input of ``modality``
    (rows naming one file, e.g. five captions of one photo, are encoded once)."""
    ids: list[str] = []
    first: dict[tuple[Any, ...], int] = {}
    source = np.empty(len(dataset), dtype=np.int64)  # type: ignore[arg-type]
    for index in range(len(source)):
        sample = dataset[index]
        ids.append(sample.id)
        source[index] = first.setdefault(_content_key(sample.inputs.get(modality)), index)
    return ids, source


def _write_entry(
    entry: Path,
    fingerprint: str,
    split: str,
    dataset: Dataset[Sample],
    encoder: Encoder,
    batch_size: int,
    collate: Callable[[list[Sample]], Batch],
) -> None:
    """Encode ``dataset`` into ``entry``: batch chunks first, then the split's arrays (tokens
    padded to the longest sample), ``index.json``, and ``complete.json`` last.

    Rows whose input equals an earlier row's (same dtype, shape and bytes) are not encoded
    again: they get that row's features (exact for batch-invariant encoders, as caching
    assumes)."""
    modality = encoder.modality
    was_training = encoder.training
    device = _device_of(encoder)
    ids, source = _distinct_rows(dataset, modality)
    distinct = np.unique(source)  # rows to encode, in order
    size = len(distinct)
    chunks: list[tuple[int, int]] = []  # (rows, T) of each batch
    dim: int | None = None
    dtype: torch.dtype | None = None
    encoder.eval()
    what = f"feature cache: encoding {modality!r} of split {split!r}"
    if size < len(ids):
        what += f" ({size} distinct inputs of {len(ids)} rows)"
    progress = _Progress(what, size)
    try:
        with torch.no_grad():
            for number, start in enumerate(range(0, size, batch_size)):
                rows = distinct[start : start + batch_size]
                batch = collate([dataset[int(i)] for i in rows])
                if modality not in batch.inputs:
                    raise DataError(
                        f"collated batches have no {modality!r} modality",
                        where=f"split {split!r}",
                        fix="collate with the dataset's modality specs",
                    )
                features = encoder(batch.inputs[modality].to(device))
                dim = dim if dim is not None else int(features.pooled.shape[-1])
                dtype = dtype if dtype is not None else features.pooled.dtype
                arrays = _feature_arrays(features, dim, dtype, modality)
                for name, array in arrays.items():
                    _save_array(entry / f"{name}.{number}.npy", array)
                chunks.append(arrays["tokens"].shape[:2])
                progress.update(start + len(rows))
    finally:
        encoder.train(was_training)
    progress.done(size)
    if len(set(ids)) != len(ids):
        duplicated = sorted(i for i, n in collections.Counter(ids).items() if n > 1)[:5]
        raise DataError(
            f"split {split!r} has duplicate sample ids {duplicated}",
            fix="give every sample a unique id (the cache maps ids to rows)",
        )
    if not ids or dim is None or dtype is None:
        raise DataError(f"split {split!r} is empty: nothing to cache", fix="check the dataset")
    _assemble(entry, chunks, dim, dtype, np.searchsorted(distinct, source))
    files = {f"{name}.npy": (entry / f"{name}.npy").stat().st_size for name in ARRAYS}
    index = {"ids": ids, "dim": dim, "torch_dtype": str(dtype).removeprefix("torch.")}
    _write_json(entry / INDEX, index)
    files[INDEX] = (entry / INDEX).stat().st_size
    marker = {
        "format": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "split": split,
        "rows": len(ids),
        "max_tokens": max(t for _, t in chunks),
        "dim": dim,
        "created": time.time(),
        "files": files,
    }
    _write_json(entry / MARKER, marker)


def _feature_arrays(
    features: Features, dim: int, dtype: torch.dtype, modality: str
) -> dict[str, np.ndarray]:
    """One batch's features as numpy arrays (storage dtype), checked against the contract."""
    tokens, pooled = features.tokens, features.pooled
    b, t = tokens.shape[:2]
    ok = (
        tokens.ndim == 3
        and tokens.shape[2] == dim
        and tuple(pooled.shape) == (b, dim)
        and tuple(features.padding_mask.shape) == (b, t)
        and tuple(features.present.shape) == (b,)
        and tokens.dtype == dtype == pooled.dtype
    )
    if not ok:
        raise DataError(
            f"encoder of modality {modality!r} gave features that break the contract: tokens "
            f"{tuple(tokens.shape)} {tokens.dtype}, pooled {tuple(pooled.shape)} {pooled.dtype}, "
            f"padding_mask {tuple(features.padding_mask.shape)}, present "
            f"{tuple(features.present.shape)} (expected width {dim}, dtype {dtype})",
            fix="make the encoder give tokens [B, T, D], pooled [B, D], padding_mask [B, T] and "
            "present [B]",
        )
    if dtype not in _NUMPY_DTYPES:
        raise DataError(f"cannot cache features of dtype {dtype}", fix="use a float encoder")
    mask = features.padding_mask.detach().cpu().bool()  # [B, T]
    valid = (~mask).numpy()
    lengths = np.where(valid.any(axis=1), t - np.argmax(valid[:, ::-1], axis=1), 1)  # [B]
    return {
        "tokens": _stored(tokens),
        "pooled": _stored(pooled),
        "padding_mask": mask.numpy(),
        "present": features.present.detach().cpu().bool().numpy(),
        "lengths": lengths.astype(np.int64),
    }


def _stored(values: Tensor) -> np.ndarray:
    """Float features as a numpy array of their storage dtype (bfloat16 widened to float32)."""
    cpu = values.detach().cpu()
    if cpu.dtype == torch.bfloat16:
        cpu = cpu.to(torch.float32)
    return cpu.numpy().astype(_NUMPY_DTYPES[values.dtype], copy=False)


def _assemble(
    entry: Path,
    chunks: Sequence[tuple[int, int]],
    dim: int,
    dtype: torch.dtype,
    order: np.ndarray,
) -> None:
    """Write the split's arrays from the batch chunks of ``entry`` (then delete them): output
    row ``r`` holds encoded row ``order[r]`` (the chunks hold the encoded rows in order)."""
    rows = len(order)
    longest = max(t for _, t in chunks)
    store = _NUMPY_DTYPES[dtype]
    out = {
        "tokens": np.lib.format.open_memmap(
            entry / "tokens.npy", mode="w+", dtype=store, shape=(rows, longest, dim)
        ),
        "pooled": np.lib.format.open_memmap(
            entry / "pooled.npy", mode="w+", dtype=store, shape=(rows, dim)
        ),
        "padding_mask": np.lib.format.open_memmap(
            entry / "padding_mask.npy", mode="w+", dtype=np.bool_, shape=(rows, longest)
        ),
        "present": np.lib.format.open_memmap(
            entry / "present.npy", mode="w+", dtype=np.bool_, shape=(rows,)
        ),
        "lengths": np.lib.format.open_memmap(
            entry / "lengths.npy", mode="w+", dtype=np.int64, shape=(rows,)
        ),
    }
    out["padding_mask"][:] = True
    start = 0
    for number, (b, t) in enumerate(chunks):
        targets = np.flatnonzero((order >= start) & (order < start + b))  # output rows
        picks = order[targets] - start  # their rows in this chunk
        for name, target in out.items():
            part = entry / f"{name}.{number}.npy"
            values = np.load(part, mmap_mode="r")
            if name in ("tokens", "padding_mask"):
                target[targets, :t] = values[picks]
            else:
                target[targets] = values[picks]
            del values
            part.unlink()
        start += b
    for target in out.values():
        target.flush()
    out.clear()  # unmaps the files
    for name in ARRAYS:
        _fsync(entry / f"{name}.npy")


# ------------------------------------------------------------------------------------------------
# Training and evaluation with cached features
# ------------------------------------------------------------------------------------------------


class CachedModalityDataset(Dataset[Sample]):
    """A dataset whose cached modalities carry :class:`CachedItem` instead of raw inputs.

    ``dataset[i]`` is the wrapped sample with ``inputs[m]`` replaced, for every cached modality
    ``m``, by the cached features of the row of its id (absent samples included: the item's
    ``present`` is False). Collate with :class:`CachedCollator`.

    Args:
        dataset: the split's dataset (the one the features were computed from).
        cached: modality name -> that split's :class:`CachedFeatures`.

    Raises:
        DataError: fewer cached rows than samples (at construction) or a sample's id is not
            cached (on access). More rows are fine: a subset of the split reads its own.
    """

    def __init__(self, dataset: Dataset[Sample], cached: Mapping[str, CachedFeatures]) -> None:
        self.dataset = dataset
        self.cached = dict(cached)
        size = len(dataset)  # type: ignore[arg-type]
        for modality, features in self.cached.items():
            if len(features) < size:  # more rows is fine (a subset of the split): read by id
                raise DataError(
                    f"cached features of modality {modality!r} have {len(features)} rows, the "
                    f"dataset has {size} samples",
                    where=str(features.path),
                    fix="recompute the cache from this dataset (its fingerprint must cover the "
                    "data), or clear the cache",
                )

    @property
    def modalities(self) -> list[str]:
        """The cached modalities."""
        return list(self.cached)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Sample:
        sample = self.dataset[index]
        inputs: dict[str, Any] = dict(sample.inputs)
        for modality, features in self.cached.items():
            inputs[modality] = features[features.row_of(sample.id)]
        return Sample(sample.id, inputs, sample.target)


@dataclass
class CachedModalityBatch(ModalityBatch):
    """A batch of cached features, standing where a :class:`ModalityBatch` would.

    ``values`` are the tokens ``[B, T, D]`` (zeros at padding), ``padding_mask`` ``[B, T]``,
    ``present`` ``[B]``, and ``pooled`` ``[B, D]``; :meth:`features` gives them as
    :class:`Features` (what :class:`CachedEncoder` returns).
    """

    pooled: Tensor | None = None

    def to(self, device: torch.device | str) -> CachedModalityBatch:
        return CachedModalityBatch(
            self.values.to(device),
            self.present.to(device),
            None if self.padding_mask is None else self.padding_mask.to(device),
            None if self.pooled is None else self.pooled.to(device),
        )

    def features(self) -> Features:
        if self.pooled is None or self.padding_mask is None:
            raise DataError("a cached batch needs pooled features and a padding mask")
        return Features(self.values, self.pooled, self.padding_mask, self.present)


def collate_cached(items: Sequence[CachedItem], modality: str = "?") -> CachedModalityBatch:
    """Stack cached items; tokens are right-padded with zeros to the longest ``T_i`` (which is
    what the encoder gave for a batch of these samples), padding marked True."""
    if not items or not all(isinstance(item, CachedItem) for item in items):
        raise DataError(
            f"modality {modality!r} is cached but some samples carry no cached features",
            fix="wrap the dataset in CachedModalityDataset before collating with CachedCollator",
        )
    longest = max(int(item.tokens.shape[0]) for item in items)
    first = items[0]
    tokens = first.tokens.new_zeros(len(items), longest, first.tokens.shape[-1])  # [B, T, D]
    mask = torch.ones(len(items), longest, dtype=torch.bool)  # [B, T], True = padding
    for i, item in enumerate(items):
        length = int(item.tokens.shape[0])
        tokens[i, :length] = item.tokens
        mask[i, :length] = item.padding_mask
    pooled = torch.stack([item.pooled for item in items])  # [B, D]
    present = torch.stack([item.present for item in items]).bool()  # [B]
    return CachedModalityBatch(tokens, present, mask, pooled)


def collate_with_cache(
    samples: Sequence[Sample], specs: Mapping[str, ModalitySpec], cached: Iterable[str]
) -> Batch:
    """Like :func:`polymodal.data.collate.collate_samples`, with the ``cached`` modalities
    collated into :class:`CachedModalityBatch` by :func:`collate_cached`."""
    names = list(dict.fromkeys(cached))
    plain = {name: spec for name, spec in specs.items() if name not in names}
    batch = collate_samples(samples, plain)
    for name in names:
        items = [s.inputs.get(name) for s in samples]
        batch.inputs[name] = collate_cached(items, name)  # type: ignore[arg-type]
    return batch


class CachedCollator:
    """Picklable collate function for a :class:`CachedModalityDataset`.

    Args:
        specs: the dataset's modality specs (as for :class:`~polymodal.data.collate.Collator`).
        cached: the cached modalities.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], cached: Iterable[str]) -> None:
        self.specs = dict(specs)
        self.cached = list(cached)

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        return collate_with_cache(samples, self.specs, self.cached)


class CachedEncoder(Encoder):
    """Stands in for a frozen encoder: returns the cached :class:`Features` of the batch.

    It has no parameters and the frozen encoder's ``out_dim``, so fusions and heads built for the
    original model fit unchanged. Its input must be a :class:`CachedModalityBatch` (from
    :class:`CachedCollator`). The features equal the encoder's on the same samples (bit for bit
    when the cache was computed with the same batches; batch composition can change float
    rounding of some layers), except that token positions past a sample's last non-padding
    position are zeros.

    Args:
        spec: the modality (as given to the original encoder).
        out_dim: the original encoder's width.
    """

    def __init__(self, spec: ModalitySpec, out_dim: int) -> None:
        super().__init__(spec)
        self.out_dim = int(out_dim)

    @classmethod
    def from_encoder(cls, encoder: Encoder) -> CachedEncoder:
        """A stand-in with ``encoder``'s spec and width."""
        return cls(encoder.spec, int(encoder.out_dim))

    def forward(self, batch: ModalityBatch) -> Features:
        if not isinstance(batch, CachedModalityBatch):
            raise DataError(
                f"modality {self.modality!r} reached its cached encoder without cached features",
                fix="wrap the dataset in CachedModalityDataset and collate with CachedCollator",
            )
        features = batch.features()
        if features.dim != self.out_dim:
            raise DataError(
                f"cached features of modality {self.modality!r} have width {features.dim}, the "
                f"encoder they replace has {self.out_dim}",
                fix="recompute the cache for this encoder, or clear the cache",
            )
        return features
