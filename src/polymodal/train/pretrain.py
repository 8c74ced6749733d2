"""Contrastive pretraining of two towers (``pretrain`` section), and its transfer to stage 2.

Stage 1 trains the objective of ``pretrain.objective`` (``contrastive``: CLIP's symmetric
InfoNCE; ``moco``: cross-modal momentum contrast) over the towers of ``pretrain.towers`` on the
training split, labels unused, with the loop of ``pretrain.train`` (or ``train``). Validation
logs ``val/loss``; the weights with the lowest one are kept (the last epoch's without a
validation split). The run directory has the layout of a supervised run (``config.yaml`` with
``model: null``, ``checkpoint/model.safetensors`` holding the objective's state: towers,
temperature, momentum towers and queues), and ``polymodal evaluate`` scores it by retrieval
(:mod:`polymodal.evaluate.pretrained`).

**Duplicates in a batch.** When the dataset's splits have ``item_keys(modality)`` (manifests,
``translation-pairs``), two rows holding the same item (e.g. two captions of one image) are
positives of each other in the InfoNCE loss rather than false negatives:
``positives[i, j] = key_a[i] == key_a[j] or key_b[i] == key_b[j]``.

**Transfer** (:func:`load_pretrained_encoders`): the supervised model's encoders of the towers'
modalities start from the towers' encoders; ``linear_probe`` freezes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor

from polymodal.config import ExperimentConfig, TrainConfig
from polymodal.data.bundle import DataBundle
from polymodal.data.cache import CachedFeatures
from polymodal.data.schema import Batch, DatasetInfo
from polymodal.errors import CheckpointError
from polymodal.models.builder import build_towers
from polymodal.models.multimodal import MultimodalModel
from polymodal.objectives.pair import PairObjective, build_objective
from polymodal.train.feature_cache import (
    cache_features,
    cached_view,
    frozen_modalities,
    log_cached,
)
from polymodal.train.module import configure_optimization

PRETRAIN_DIR = "pretrain"
"""Folder of stage 1 inside a two-stage run directory."""


def build_pretrain_objective(config: ExperimentConfig, info: DatasetInfo) -> PairObjective:
    """The objective of ``config.pretrain`` over freshly built towers for dataset ``info``."""
    assert config.pretrain is not None
    section = {"towers": {m: t.model_dump() for m, t in config.pretrain.towers.items()}}
    towers = build_towers(section, info)
    spec = config.pretrain.objective
    return build_objective(spec.name, towers, spec.params)


def cached_objective(
    config: ExperimentConfig,
    bundle: DataBundle,
    objective: PairObjective,
    cache_dir: Path,
    *,
    batch_size: int,
    splits: Sequence[str] | None = None,
) -> tuple[PairObjective, dict[str, dict[str, CachedFeatures]]]:
    """The objective reading cached features for its towers' frozen encoders, and those
    features ``split -> modality -> CachedFeatures`` (see :mod:`polymodal.train.feature_cache`).

    The returned objective has the same ``state_dict`` (keys and values) as ``objective``; with
    no frozen encoder it is ``objective`` itself and the features are empty.
    """
    assert config.pretrain is not None
    cached: dict[str, dict[str, CachedFeatures]] = {}
    towers: dict[str, Any] = {}
    for m, tower in objective.towers.items():
        frozen = frozen_modalities(tower)
        log_cached(frozen, tower, cache_dir)
        if frozen:
            found = cache_features(
                config,
                bundle,
                tower,
                cache_dir,
                frozen,
                batch_size=batch_size,
                splits=splits,
                encoder_configs=config.pretrain.towers[m].encoders,
            )
            for split, features in found.items():
                cached.setdefault(split, {}).update(features)
            tower = cached_view(tower, frozen)
        towers[m] = tower
    if not cached:
        return objective, cached
    spec = config.pretrain.objective
    view = build_objective(spec.name, towers, spec.params)
    view.load_state_dict(objective.state_dict())  # temperature, momentum towers, queues
    view.train(objective.training)
    return view, cached


def item_key_index(bundle: DataBundle, modalities: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``modality -> sample id -> item key`` over every split whose dataset has
    ``item_keys``; empty for a modality no split describes (every row its own item)."""
    index: dict[str, dict[str, Any]] = {m: {} for m in modalities}
    for dataset in bundle.splits.values():
        keys_of = getattr(dataset, "item_keys", None)
        if keys_of is None:
            continue
        ids = [dataset[i].id for i in range(len(dataset))]  # type: ignore[arg-type]
        for m in modalities:
            for sample_id, key in zip(ids, keys_of(m), strict=True):
                if key is not None:
                    index[m][sample_id] = key
    return index


def batch_positives(
    ids: Sequence[str], keys: Mapping[str, Mapping[str, Any]], modalities: Sequence[str]
) -> Tensor | None:
    """bool ``[B, B]``: ``[i, j]`` True when rows i and j share an item of either modality
    (the diagonal always); None when no two rows do (the identity, the loss's default)."""
    n = len(ids)
    same = torch.eye(n, dtype=torch.bool)
    for m in modalities:
        table = keys.get(m, {})
        if not table:
            continue
        codes: dict[Any, int] = {}
        column = [
            codes.setdefault(table[i], len(codes)) if i in table else -1 - k
            for k, i in enumerate(ids)
        ]  # rows without a key: unique negative codes
        values = torch.tensor(column)
        same |= values[:, None] == values[None, :]
    return None if bool((same == torch.eye(n, dtype=torch.bool)).all()) else same


class LitPretrain(L.LightningModule):
    """Training and validation of a pair objective; reseeding and LR schedule as
    :class:`~polymodal.train.module.LitMultimodal` (bit-identical resume on CPU).

    Args:
        objective: the pair objective (towers included).
        cfg: the stage's training loop.
        seed: the experiment's seed.
        keys: ``modality -> sample id -> item key`` (:func:`item_key_index`).
    """

    def __init__(
        self,
        objective: PairObjective,
        cfg: TrainConfig,
        seed: int,
        keys: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.model = objective  # named as LitMultimodal's: the checkpoint callbacks save it
        self.cfg = cfg
        self.seed = seed
        self.keys = dict(keys or {})

    @property
    def objective(self) -> PairObjective:
        """The pair objective being trained."""
        return self.model

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int):
        return batch.to(device)

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> None:
        torch.manual_seed(self.seed * 1_000_003 + self.global_step)

    def _loss(self, batch: Batch) -> Tensor:
        positives = batch_positives(batch.ids, self.keys, self.objective.modalities)
        if positives is not None:
            positives = positives.to(self.device)
        return self.objective.loss(batch, positives)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        size = len(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss = self._loss(batch)
        size = len(batch)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)

    def configure_optimizers(self) -> Any:
        return configure_optimization(self, self.cfg)


def stage_one_config(config: ExperimentConfig) -> ExperimentConfig:
    """The pretraining stage of a two-stage experiment as an experiment of its own: no
    ``model``, its ``train`` loop the stage's (what stage 1's ``config.yaml`` holds)."""
    assert config.pretrain is not None
    pretrain = config.pretrain.model_copy(update={"train": None})
    return config.model_copy(
        update={"model": None, "pretrain": pretrain, "train": config.pretrain_train}
    )


def load_pretrain_objective(
    run_dir: str | Path, info: DatasetInfo
) -> tuple[ExperimentConfig, PairObjective]:
    """The config and trained objective (eval mode) of a pretraining run directory."""
    from polymodal.train.run import load_best_weights, load_run_config

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if config.pretrain is None:
        raise CheckpointError(
            "not a pretraining run (its config has no `pretrain` section)",
            where=str(run_dir),
            fix="give the run directory of a contrastive run (or the `pretrain` folder of a "
            "two-stage run)",
        )
    objective = build_pretrain_objective(config, info)
    load_best_weights(objective, run_dir)
    return config, objective


def load_pretrained_encoders(
    model: MultimodalModel, objective: PairObjective, *, freeze: bool
) -> list[str]:
    """Copy each tower's encoder into ``model``'s encoder of the same modality (the specs are
    equal, checked by the config); freeze them when ``freeze`` (linear probe). Returns the
    modalities transferred."""
    moved = []
    for m, tower in objective.towers.items():
        if m in model.encoders and isinstance(tower, MultimodalModel) and m in tower.encoders:
            model.encoders[m].load_state_dict(tower.encoders[m].state_dict())
            moved.append(m)
    if freeze:
        model.freeze_encoders(moved)
    return moved
