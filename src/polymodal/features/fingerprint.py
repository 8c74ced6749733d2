"""Fingerprints: the cache key of an encoder's features of a dataset's modality.

:func:`fingerprint` is the SHA-256 of a canonical JSON document holding the cache format, the
torch version, the encoder's class, its config (name and params) when given, its structure
(each submodule's class, ``extra_repr`` and plain attributes such as ``max_grid``), a hash of its
weights (every parameter and buffer, names sorted), the modality spec, the caller's ``extra``
(put the preprocessing state there) and a digest of the data. :func:`dataset_digest` hashes every
sample id and every preprocessed input tensor (dtype, shape, bytes) of the modality over all
splits, so any change of data, ids or preprocessing gives another fingerprint; a caller may pass
its own content hash instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from polymodal.data.schema import ModalitySpec, Sample
from polymodal.digest import canonical, digest_json, update_tensor
from polymodal.errors import DataError
from polymodal.features.layout import FORMAT_VERSION

_PLAIN = (bool, int, float, str, type(None))


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer of ``module`` (persistent or not), by sorted name:
    name, dtype, shape and bytes of each."""
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    hasher = hashlib.sha256()
    for name in sorted(tensors):
        hasher.update(name.encode("utf-8") + b"\0")
        update_tensor(hasher, tensors[name])
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
        key: canonical(value, key)
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
        "meta": canonical(spec.meta, "spec.meta"),
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
                update_tensor(hasher, value)
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
        "encoder_config": canonical(config, "config"),
        "encoder_structure": describe_module(encoder),
        "weights": weights_digest(encoder),
        "spec": _spec_document(spec),
        "dataset": str(dataset_digest),
        "extra": canonical(extra, "extra"),
    }
    return digest_json(document)
