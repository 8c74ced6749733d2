"""Train and evaluate on cached features of frozen encoders (``train.feature_cache``).

A frozen encoder (it has parameters, none of them trainable) gives the same features for a
sample in every epoch, so :mod:`polymodal.features` encodes each split once and training reads
the stored features back. This module wires that into a run:

- :func:`frozen_modalities` picks the modalities whose encoder is frozen; others run as usual.
- :func:`cache_features` computes or loads the cached features of every split
  (:meth:`~polymodal.features.store.FeatureCache.get_or_compute`, keyed by
  :func:`~polymodal.features.fingerprint.fingerprint` of the encoder, its config, the modality spec,
  :func:`~polymodal.features.fingerprint.dataset_digest` of all splits and ``bundle.state``).
- :func:`cached_view` gives a model for the cached batches: the same fusion, head, interaction
  and non-cached encoders (shared, not copied), each cached encoder replaced by a
  :class:`CachedStandIn`. The stand-in keeps the frozen encoder's submodules, parameters and
  buffers under their own names, unused, so the view's ``state_dict`` has exactly the keys and
  tensors of the real model: ``model.safetensors`` and ``last.safetensors`` written while
  training on cached features load into the normal model, and a run resumes with or without the
  cache.
- :func:`cached_loader` builds a DataLoader over :class:`~polymodal.features.adapters.
  CachedModalityDataset` collated by :class:`~polymodal.features.adapters.CachedCollator`.

Features are computed in eval mode, in the split's order, in batches of the run's batch size.
Outputs equal those of the real encoder when it is batch-invariant for the data (fixed-size
inputs, e.g. images); otherwise batch composition can change float rounding (see
:mod:`polymodal.features.adapters`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch.utils.data import DataLoader, Dataset

from polymodal.config import ComponentSpec, ExperimentConfig
from polymodal.data.bundle import DataBundle
from polymodal.data.collate import Collator
from polymodal.data.loading import make_dataloader
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.encoders.base import Encoder
from polymodal.errors import ConfigError
from polymodal.features.adapters import CachedCollator, CachedEncoder, CachedModalityDataset
from polymodal.features.fingerprint import dataset_digest, fingerprint
from polymodal.features.store import CachedFeatures, FeatureCache
from polymodal.models.multimodal import MultimodalModel

CACHE_SUBDIR = "feature_cache"

_LOG = logging.getLogger("polymodal")


def cache_dir_of(setting: bool | str, run_dir: str | Path) -> Path | None:
    """The cache folder of a ``train.feature_cache`` setting: None (off), ``<run_dir>/
    feature_cache`` (True) or the given folder (a string).

    Raises:
        ConfigError: an empty string.
    """
    if setting is False:
        return None
    if setting is True:
        return Path(run_dir) / CACHE_SUBDIR
    if not str(setting).strip():
        raise ConfigError(["train.feature_cache: give true, false or a folder, not ''"])
    return Path(setting).expanduser()


def is_frozen(encoder: Encoder) -> bool:
    """True when ``encoder`` has parameters and none of them requires a gradient."""
    params = list(encoder.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def frozen_modalities(model: MultimodalModel) -> list[str]:
    """The model's modalities whose encoder is frozen (see :func:`is_frozen`), in model order."""
    return [m for m, encoder in model.encoders.items() if is_frozen(encoder)]


class CachedStandIn(CachedEncoder):
    """A :class:`~polymodal.features.adapters.CachedEncoder` that also holds the frozen encoder's
    submodules, parameters and buffers under their original names, never run: the model's
    ``state_dict`` keeps the real model's keys and tensors (shared, not copied).

    Args:
        encoder: the frozen encoder it stands for.
    """

    def __init__(self, encoder: Encoder) -> None:
        super().__init__(encoder.spec, int(encoder.out_dim))
        for name, child in encoder.named_children():
            self.add_module(name, child)
        for name, param in encoder.named_parameters(recurse=False):
            self.register_parameter(name, param)
        persistent = set(encoder.state_dict(keep_vars=True))
        for name, buffer in encoder.named_buffers(recurse=False):
            self.register_buffer(name, buffer, persistent=name in persistent)


def cached_view(model: MultimodalModel, modalities: Sequence[str]) -> MultimodalModel:
    """A model reading cached features for ``modalities``: the same fusion, head, interaction
    and other encoders (shared), each cached encoder swapped for a :class:`CachedStandIn`.
    Its ``state_dict`` equals ``model``'s (same keys, same tensors)."""
    encoders = {
        m: CachedStandIn(encoder) if m in modalities else encoder
        for m, encoder in model.encoders.items()
    }
    view = MultimodalModel(
        encoders,
        model.fusion,
        model.head,
        model.interaction,
        model.unimodal_heads,
        model.unimodal_loss_weight,
    )
    view.freeze_encoders(m for m in model.frozen_encoders if m not in modalities)
    return view


def cache_features(
    config: ExperimentConfig,
    bundle: DataBundle,
    model: MultimodalModel,
    cache_dir: Path,
    modalities: Sequence[str],
    *,
    batch_size: int,
    splits: Sequence[str] | None = None,
    encoder_configs: Mapping[str, ComponentSpec] | None = None,
) -> dict[str, dict[str, CachedFeatures]]:
    """Cached features ``split -> modality -> CachedFeatures`` of ``modalities`` (frozen
    encoders of ``model``) for ``splits`` (None: every split of ``bundle``), computed with
    ``batch_size`` where absent from ``cache_dir``; empty splits (e.g. ``val_fraction: 0``)
    are left out. ``encoder_configs`` (default: the experiment's ``model.encoders``) are the
    encoders' config sections, part of the key.

    Raises:
        ConfigError: one of ``modalities`` has a trainable encoder.
    """
    names = list(bundle.splits) if splits is None else list(splits)
    names = [n for n in names if len(bundle.splits[n]) > 0]  # type: ignore[arg-type]  # e.g. no val
    out: dict[str, dict[str, CachedFeatures]] = {name: {} for name in names}
    cache = FeatureCache(cache_dir)
    if encoder_configs is None:
        if config.model is None:
            raise ConfigError(["feature cache: give the encoders' configs (no `model` section)"])
        encoder_configs = config.model.encoders
    for m in modalities:
        encoder = model.encoders[m]
        spec = bundle.info.modalities[m]
        digest = dataset_digest(bundle.splits, m)
        key = fingerprint(
            encoder,
            spec,
            digest,
            {"state": bundle.state},
            config=encoder_configs[m],
        )
        collate = Collator({m: spec})
        for name in names:
            out[name][m] = cache.get_or_compute(
                key, name, bundle.splits[name], encoder, batch_size, collate
            )
    return out


def cached_loader(
    dataset: Dataset[Sample],
    cached: Mapping[str, CachedFeatures],
    specs: Mapping[str, ModalitySpec],
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """Like :func:`polymodal.data.loading.make_dataloader` (same sampler, so the same batches),
    over ``dataset`` with the ``cached`` modalities read from the cache."""
    return make_dataloader(
        CachedModalityDataset(dataset, cached),
        dict(specs),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        num_workers=num_workers,
        collate_fn=CachedCollator(specs, cached=list(cached)),
    )


def log_cached(modalities: Sequence[str], model: MultimodalModel, cache_dir: Path) -> None:
    """Log which modalities read cached features and which are encoded every step."""
    others = [m for m in model.encoders if m not in modalities]
    _LOG.info(
        "feature cache %s: cached features for %s; encoded every step: %s",
        cache_dir,
        ", ".join(modalities) or "none (no frozen encoder)",
        ", ".join(others) or "none",
    )
