"""Computing an entry: encode a split with a frozen encoder and write its arrays.

Features are computed in eval mode without gradients, on the encoder's device, in the split's
order and in batches of the caller's size; rows whose input equals an earlier row's are encoded
once. Each batch is written as a chunk, then the split's arrays are assembled from the chunks
(tokens padded to the split's longest), then ``index.json``, and ``complete.json`` last.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from polymodal.data.schema import Batch, Features, Sample
from polymodal.encoders.base import Encoder
from polymodal.errors import ConfigError, DataError
from polymodal.features.layout import (
    ARRAYS,
    FORMAT_VERSION,
    INDEX,
    MARKER,
    NUMPY_DTYPES,
    fsync_file,
    save_array,
    write_json,
)

_LOG = logging.getLogger("polymodal")


def check_frozen(encoder: nn.Module) -> None:
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


def _check_ids(ids: Sequence[str], split: str) -> None:
    """A :class:`DataError` for an empty split or duplicate sample ids (the cache maps ids to
    rows), raised before anything is encoded."""
    if not ids:
        raise DataError(f"split {split!r} is empty: nothing to cache", fix="check the dataset")
    if len(set(ids)) != len(ids):
        duplicated = sorted(i for i, n in collections.Counter(ids).items() if n > 1)[:5]
        raise DataError(
            f"split {split!r} has duplicate sample ids {duplicated}",
            fix="give every sample a unique id (the cache maps ids to rows)",
        )


def write_entry(
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
    assumes).

    Raises:
        DataError: an empty split or duplicate sample ids (before encoding), a batch without
            the modality, or features that break the encoder contract.
    """
    ids, source = _distinct_rows(dataset, encoder.modality)
    _check_ids(ids, split)
    distinct = np.unique(source)  # rows to encode, in order
    what = f"feature cache: encoding {encoder.modality!r} of split {split!r}"
    if len(distinct) < len(ids):
        what += f" ({len(distinct)} distinct inputs of {len(ids)} rows)"
    chunks, dim, dtype = _encode_chunks(
        entry,
        split,
        dataset,
        encoder,
        distinct,
        batch_size,
        collate,
        _Progress(what, len(distinct)),
    )
    _assemble(entry, chunks, dim, dtype, np.searchsorted(distinct, source))
    _write_records(entry, fingerprint, split, ids, chunks, dim, dtype)


def _encode_chunks(
    entry: Path,
    split: str,
    dataset: Dataset[Sample],
    encoder: Encoder,
    rows: np.ndarray,
    batch_size: int,
    collate: Callable[[list[Sample]], Batch],
    progress: _Progress,
) -> tuple[list[tuple[int, int]], int, torch.dtype]:
    """Encode the dataset's ``rows`` in batches into chunk files ``<array>.<n>.npy`` of
    ``entry``; returns ``(rows, T)`` of each chunk, the width and the dtype of the features.
    The encoder runs in eval mode without gradients; its mode is restored afterwards."""
    modality = encoder.modality
    was_training = encoder.training
    device = _device_of(encoder)
    chunks: list[tuple[int, int]] = []  # (rows, T) of each batch
    dim: int | None = None
    dtype: torch.dtype | None = None
    encoder.eval()
    try:
        with torch.no_grad():
            for number, start in enumerate(range(0, len(rows), batch_size)):
                part = rows[start : start + batch_size]
                batch = collate([dataset[int(i)] for i in part])
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
                    save_array(entry / f"{name}.{number}.npy", array)
                chunks.append(arrays["tokens"].shape[:2])
                progress.update(start + len(part))
    finally:
        encoder.train(was_training)
    progress.done(len(rows))
    if dim is None or dtype is None:
        raise DataError("nothing to encode: no rows", fix="check the dataset")
    return chunks, dim, dtype


def _write_records(
    entry: Path,
    fingerprint: str,
    split: str,
    ids: list[str],
    chunks: Sequence[tuple[int, int]],
    dim: int,
    dtype: torch.dtype,
) -> None:
    """Write ``index.json`` (ids in row order, width, dtype), then the ``complete.json``
    marker (key, format, sizes of every file: what a reader checks)."""
    files = {f"{name}.npy": (entry / f"{name}.npy").stat().st_size for name in ARRAYS}
    index = {"ids": ids, "dim": dim, "torch_dtype": str(dtype).removeprefix("torch.")}
    write_json(entry / INDEX, index)
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
    write_json(entry / MARKER, marker)


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
    if dtype not in NUMPY_DTYPES:
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
    return cpu.numpy().astype(NUMPY_DTYPES[values.dtype], copy=False)


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
    store = NUMPY_DTYPES[dtype]
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
        fsync_file(entry / f"{name}.npy")
