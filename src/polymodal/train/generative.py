"""Training a generating model: teacher-forced cross-entropy over the target tokens.

The same Lightning path as the classifiers (:mod:`polymodal.train.run`): the trainer, the
best-weights selection by ``val/loss``, the resumable checkpoint. What differs:

- the target tokenizer is fitted on the training split's references (every reference of every
  sample) before the model is built, or taken from the run (``--resume``), and saved as
  ``checkpoint/target_tokenizer.json`` (:mod:`polymodal.rundir.generative`);
- each training step draws one reference per sample, seeded by ``(seed, epoch, sample id)``
  (:func:`~polymodal.models.generative.reference_choice`), so each epoch may train on another
  of a sample's references; validation always reads the first reference, so ``val/loss`` is
  comparable between epochs;
- the loss is the mean cross-entropy over non-pad target tokens
  (:meth:`~polymodal.models.generative.GenerativeModel.loss`);
- with ``train.feature_cache``, frozen encoders (a captioning model's pretrained image encoder)
  run once per split before training, as for the classifiers
  (:mod:`polymodal.features.training`), instead of once per epoch: the model trains through a
  view whose frozen encoders read the stored features (:func:`cached_generative_view`).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch import nn
from torch.utils.data import Dataset

from polymodal.config import ExperimentConfig, TrainConfig
from polymodal.data.bundle import DataBundle
from polymodal.data.schema import Batch, Sample
from polymodal.errors import DataError
from polymodal.features import CachedFeatures
from polymodal.features.training import (
    CachedStandIn,
    cache_dir_of,
    cache_features,
    frozen_modalities,
    log_cached,
)
from polymodal.models.generative import GenerativeModel, reference_choice, target_tokens
from polymodal.models.generative_builder import build_generative_model
from polymodal.rundir.generative import load_target_tokenizer, save_target_tokenizer
from polymodal.rundir.layout import target_tokenizer_path
from polymodal.train.module import configure_optimization

_LOG = logging.getLogger("polymodal")


def split_references(dataset: Dataset[Sample]) -> list[str]:
    """Every reference text of every sample of ``dataset``, in order.

    Raises:
        DataError: a sample without references (not a generation dataset).
    """
    texts: list[str] = []
    for i in range(len(dataset)):  # type: ignore[arg-type]
        sample = dataset[i]
        if not sample.references:
            raise DataError(
                "a sample of a generation dataset has no reference text",
                where=f"sample {sample.id}",
                fix="give every sample at least one reference (task: generation)",
            )
        texts.extend(sample.references)
    return texts


class LitGenerative(L.LightningModule):
    """Trains a :class:`GenerativeModel` (see the module docs).

    Args:
        model: the model.
        cfg: the training loop.
        seed: the run's seed (reference choice, per-step reseeding).
        max_target_length: target ids per reference, the end token included.
    """

    def __init__(
        self, model: GenerativeModel, cfg: TrainConfig, seed: int, max_target_length: int
    ) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.seed = seed
        self.max_target_length = max_target_length

    def forward(self, batch: Batch) -> Any:
        return self.model(batch)

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int):
        return batch.to(device)

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> None:
        torch.manual_seed(self.seed * 1_000_003 + self.global_step)

    def targets(self, batch: Batch, epoch: int | None) -> torch.Tensor:
        """Target ids ``[B, T]`` of one reference per sample (``epoch`` None: the first)."""
        if batch.references is None:
            raise DataError("a generation batch has no references", fix="use task: generation")
        texts = [
            refs[0] if epoch is None else reference_choice(refs, sid, self.seed, epoch)
            for sid, refs in zip(batch.ids, batch.references, strict=True)
        ]
        return target_tokens(texts, self.model.tokenizer, self.max_target_length).to(self.device)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self.model.loss(self.model(batch), self.targets(batch, self.current_epoch))
        size = len(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss = self.model.loss(self.model(batch), self.targets(batch, None))
        size = len(batch)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)

    def configure_optimizers(self) -> Any:
        return configure_optimization(self, self.cfg)


def cached_generative_view(model: GenerativeModel, modalities: list[str]) -> GenerativeModel:
    """A shallow copy of ``model`` whose encoders of ``modalities`` are
    :class:`~polymodal.features.training.CachedStandIn` (reading cached features); every other
    module (encoders, interaction, projections, decoder) and the tokenizer are shared. Its
    ``state_dict`` has the keys and tensors of ``model``'s, so the weights it saves load into the
    real model."""
    view = copy.copy(model)
    view._modules = dict(model._modules)  # a module table of its own, the same modules
    view.encoders = nn.ModuleDict(
        {m: CachedStandIn(e) if m in modalities else e for m, e in model.encoders.items()}
    )
    return view


def _cached(
    config: ExperimentConfig, bundle: DataBundle, model: GenerativeModel, run_dir: Path
) -> dict[str, dict[str, CachedFeatures]]:
    """``split -> modality -> cached features`` of the frozen encoders with
    ``train.feature_cache`` (empty without it, or without a frozen encoder)."""
    cache_dir = cache_dir_of(config.train.feature_cache, run_dir)
    if cache_dir is None:
        return {}
    modalities = frozen_modalities(model)  # type: ignore[arg-type]  # reads .encoders only
    log_cached(modalities, model, cache_dir)  # type: ignore[arg-type]
    if not modalities:
        return {}
    batch_size = config.train.batch_size
    return cache_features(config, bundle, model, cache_dir, modalities, batch_size=batch_size)  # type: ignore[arg-type]


def generative_module(
    config: ExperimentConfig, bundle: DataBundle, run_dir: Path
) -> tuple[LitGenerative, dict, dict, dict]:
    """The LightningModule of a generation run, the modalities it reads, the cached features of
    its frozen encoders (``train.feature_cache``; else none) and the splits; the target
    tokenizer is fitted (or reloaded when the run has one) and saved in ``run_dir``."""
    assert config.model is not None
    saved = target_tokenizer_path(run_dir).is_file()
    tokenizer = load_target_tokenizer(run_dir) if saved else None
    texts = () if saved else split_references(bundle.splits["train"])
    model = build_generative_model(config.model, bundle.info, tokenizer, texts, config.generation)
    if rank_zero_only.rank == 0:
        save_target_tokenizer(model, run_dir)
    _LOG.info("target vocabulary: %d ids", model.tokenizer.vocab_size)
    used = {name: bundle.info.modalities[name] for name in config.model.encoders}
    cached = _cached(config, bundle, model, run_dir)
    if cached:
        model = cached_generative_view(model, list(cached["train"]))
    module = LitGenerative(model, config.train, config.seed, config.generation.max_target_length)
    return module, used, cached, dict(bundle.splits)
