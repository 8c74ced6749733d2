"""Train an experiment into a run directory.

A run directory holds ``config.yaml`` (resolved), ``env.json``, ``checkpoint/``
(``model.safetensors`` with the best weights, ``last.safetensors`` + ``last.json`` to resume,
``data_state.json`` with the preprocessing state), ``skipped.jsonl`` (rows skipped under the
``skip`` policy), ``logs/`` and, after evaluation, ``metrics.json``, ``predictions.parquet``
and ``report.md`` (every name: :mod:`polymodal.rundir.layout`; loading a run back:
:mod:`polymodal.rundir.load`). Nothing is written outside it.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset, Sampler

from polymodal.config import ExperimentConfig, TrainConfig, config_to_dict
from polymodal.console import quiet_lightning
from polymodal.data.bundle import DataBundle
from polymodal.data.loading import build_data, make_dataloader
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.data.subset import stratified_subset
from polymodal.errors import CheckpointError
from polymodal.features import CachedFeatures
from polymodal.features.training import (
    cache_dir_of,
    cache_features,
    cached_loader,
    cached_view,
    frozen_modalities,
    log_cached,
)
from polymodal.io import write_json_atomic, write_text_atomic
from polymodal.models.builder import build_model
from polymodal.models.multimodal import MultimodalModel
from polymodal.rundir.layout import (
    ENV_FILE,
    SKIPPED_FILE,
    TRAIN_SUMMARY_FILE,
    checkpoint_dir,
    config_path,
    data_state_path,
    history_path,
    last_checkpoint,
    last_tensors,
    pretrain_dir,
)
from polymodal.rundir.load import build_pretrain_objective, load_pretrain_objective
from polymodal.train.callbacks import (
    BestWeights,
    LastCheckpoint,
    MetricsHistory,
    recover_last_checkpoint,
)
from polymodal.train.checkpoint import SafetensorsCheckpointIO
from polymodal.train.environment import collect_environment
from polymodal.train.loggers import loggers_of
from polymodal.train.module import LitMultimodal
from polymodal.train.pretrain import (
    LitPretrain,
    cached_objective,
    item_key_index,
    load_pretrained_encoders,
    stage_one_config,
)

_LOG = logging.getLogger("polymodal")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        metrics: the last epoch's metrics (``train/loss``, ``val/loss``, ``val/<metric>``).
        best_epoch: the epoch whose weights are the run's model (``checkpoint/model.safetensors``),
            the best by the monitored metric; None without it (the last epoch's are kept).
        epochs_run: epochs trained.
        train_seconds: wall-clock seconds of ``fit`` (per epoch: ``logs/metrics.jsonl``).
        best_metrics: the validation metrics (``val/...``) of ``best_epoch``; empty without
            validation.
    """

    run_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None
    epochs_run: int = 0
    train_seconds: float = 0.0
    best_metrics: dict[str, float] = field(default_factory=dict)


def _write_run_header(config: ExperimentConfig, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    write_text_atomic(config_path(run_dir), text)
    write_json_atomic(run_dir / ENV_FILE, collect_environment(config.seed))


def _record_skipped(bundle: DataBundle, run_dir: Path) -> None:
    lines = "".join(json.dumps(row.to_dict()) + "\n" for row in bundle.skipped)
    write_text_atomic(run_dir / SKIPPED_FILE, lines)
    if bundle.skipped:
        logging.getLogger("polymodal").warning(
            "skipped %d bad rows (listed in %s)", len(bundle.skipped), run_dir / SKIPPED_FILE
        )


def _trainer(
    cfg: TrainConfig,
    run_dir: Path,
    has_val: bool,
    extra: list[L.Callback],
    config: ExperimentConfig,
) -> tuple[L.Trainer, BestWeights]:
    ckpt_dir = checkpoint_dir(run_dir)
    stopping = cfg.early_stopping
    monitor = stopping.monitor if stopping else "val/loss"
    mode = stopping.mode if stopping else "min"
    best = BestWeights(ckpt_dir, monitor=monitor, mode=mode, selection=cfg.selection)
    last = LastCheckpoint(last_checkpoint(run_dir))
    history = MetricsHistory(history_path(run_dir))
    callbacks: list[L.Callback] = [*extra, history, best, last]
    if stopping is not None and has_val:
        callbacks.insert(
            0,
            EarlyStopping(
                monitor=stopping.monitor,
                mode=stopping.mode,
                patience=stopping.patience,
                min_delta=stopping.min_delta,
            ),
        )
    trainer = L.Trainer(
        max_epochs=cfg.max_epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        precision=cfg.precision,
        gradient_clip_val=cfg.gradient_clip_val,
        deterministic=cfg.deterministic,
        default_root_dir=run_dir,
        logger=loggers_of(config, cfg, run_dir) or False,  # metrics.jsonl: MetricsHistory
        callbacks=callbacks,
        plugins=[SafetensorsCheckpointIO()],
        enable_progress_bar=cfg.progress,
        enable_model_summary=False,
        enable_checkpointing=True,  # LastCheckpoint (a Checkpoint) and BestWeights write them
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # RankShard shards training; every rank validates all
        log_every_n_steps=1,
    )
    return trainer, best


class RankShard(Sampler[int]):
    """Rank ``r`` of ``W`` data-parallel processes takes positions ``r, r + W, ...`` of the
    epoch order of ``sampler`` (one process: all of it).

    With a per-process batch of ``b``, step ``s`` of the ``W`` ranks together covers positions
    ``s*W*b`` to ``(s+1)*W*b - 1``: exactly the batch of one process with batch ``W*b``, so the
    averaged gradient is that process's gradient up to float summation order. (Lightning's own
    ``DistributedSampler`` reshuffles the order, which changes every batch.) The order is padded
    with its first positions to a multiple of ``W``, as ``DistributedSampler`` does, so every
    rank runs the same number of steps. Rank and world size are read from ``torch.distributed``
    when the loader is used, after the trainer has joined the process group.
    """

    def __init__(self, sampler: Sampler[int]) -> None:
        self.sampler = sampler

    @staticmethod
    def _rank_world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        rank, world = self._rank_world()
        order = list(self.sampler)
        order += order[: -len(order) % world]  # pad to a multiple of world
        return iter(order[rank::world])

    def __len__(self) -> int:
        _, world = self._rank_world()
        return -(-len(self.sampler) // world)  # type: ignore[arg-type]


def train(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: list[L.Callback] | tuple[L.Callback, ...] = (),
) -> TrainResult:
    """Train ``config`` into ``run_dir``.

    A supervised config (``model``) trains the model; a contrastive one (``pretrain`` alone)
    trains the towers with the objective (:mod:`polymodal.train.pretrain`). A two-stage config
    (both) pretrains into ``<run_dir>/pretrain`` (a run directory of its own), then trains the
    supervised model into ``run_dir``, its encoders starting from the towers' (frozen for a
    linear probe), on ``pretrain.transfer.label_fraction`` of the labelled training rows. With
    ``resume``, a finished pretraining stage is kept and an interrupted one continued.

    Args:
        config: a validated experiment.
        run_dir: the run directory (created; nothing is written outside it).
        resume: continue from ``checkpoint/last`` of an earlier, interrupted run of the same config.
        callbacks: extra Lightning callbacks (loggers of your own, profilers, ...).

    Returns:
        The result of the (last) stage.

    Raises:
        CheckpointError: ``resume`` without a checkpoint, or with a different config.
    """
    run_dir = Path(run_dir)
    with quiet_lightning():  # Lightning's tips and info lines stay off the console
        if config.pretrain is None or config.model is None:
            return _train_stage(config, run_dir, resume=resume, callbacks=callbacks)
        stage_dir = pretrain_dir(run_dir)
        first = stage_one_config(config)
        if not (resume and _finished(first, stage_dir)):
            again = resume and last_tensors(stage_dir).is_file()
            _train_stage(first, stage_dir, resume=again, callbacks=callbacks)
        again = resume and last_tensors(run_dir).is_file()
        return _train_stage(
            config, run_dir, resume=again, callbacks=callbacks, pretrained=stage_dir
        )


def _finished(config: ExperimentConfig, run_dir: Path) -> bool:
    """True when ``run_dir`` holds a completed run of exactly ``config``."""
    saved = config_path(run_dir)
    if not (run_dir / TRAIN_SUMMARY_FILE).is_file() or not saved.is_file():
        return False
    return yaml.safe_load(saved.read_text()) == config_to_dict(config)


def _train_stage(
    config: ExperimentConfig,
    run_dir: Path,
    *,
    resume: bool,
    callbacks: list[L.Callback] | tuple[L.Callback, ...],
    pretrained: Path | None = None,
) -> TrainResult:
    """One training run: the supervised model (``config.model``) or, without one, the
    pretraining objective; ``pretrained`` is a pretraining run to start the encoders from."""
    ckpt_path: str | None = None
    # launched DDP workers (torchrun, Lightning's `ddp`) run this too: only rank 0 writes files
    rank_zero = rank_zero_only.rank == 0
    if resume:
        if rank_zero:
            recover_last_checkpoint(last_checkpoint(run_dir))
        ckpt_path = _check_resumable(config, run_dir)
    L.seed_everything(config.seed, workers=True, verbose=False)
    bundle = build_data(config.data, seed=config.seed)  # bad data fails before the run dir exists
    if rank_zero:
        _write_run_header(config, run_dir)
        _record_skipped(bundle, run_dir)
        checkpoint_dir(run_dir).mkdir(parents=True, exist_ok=True)
        write_json_atomic(data_state_path(run_dir), bundle.state)

    cfg = config.train if config.model is not None else config.pretrain_train
    if config.model is not None:
        module, used, cached, splits = _supervised_module(config, bundle, run_dir, pretrained)
    else:
        module, used, cached, splits = _pretrain_module(config, bundle, run_dir)

    def loader(split: str, shuffle: bool) -> DataLoader:
        dataset, common = splits[split], {"batch_size": cfg.batch_size, "shuffle": shuffle}
        common |= {"seed": config.seed, "num_workers": cfg.num_workers}
        if cached:
            return cached_loader(dataset, cached[split], used, **common)
        return make_dataloader(dataset, used, **common)

    train_loader = loader("train", True)
    train_loader.batch_sampler.sampler = RankShard(train_loader.sampler)  # type: ignore[union-attr]
    val_set = splits.get("val")
    has_val = val_set is not None and len(val_set) > 0  # type: ignore[arg-type]
    val_loader = loader("val", False) if has_val else None
    trainer, best = _trainer(cfg, run_dir, has_val, list(callbacks), config)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Frozen pretrained encoders stay in eval mode on purpose (no dropout, fixed statistics).
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
    seconds = time.perf_counter() - start
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    result = TrainResult(run_dir, metrics, best.best_epoch, trainer.current_epoch, seconds)
    result.best_metrics = _best_metrics(trainer, best)
    if trainer.is_global_zero:
        summary = {**metrics, "best_epoch": best.best_epoch, "epochs": trainer.current_epoch}
        summary["selection"] = best.rule
        summary["train_seconds"] = seconds
        summary["train_rows"] = len(splits["train"])  # type: ignore[arg-type]
        write_json_atomic(run_dir / TRAIN_SUMMARY_FILE, summary)
    return result


def _best_metrics(trainer: L.Trainer, best: BestWeights) -> dict[str, float]:
    """The validation metrics (``val/...``) of the best epoch's row of the metrics history."""
    history = next(c for c in trainer.callbacks if isinstance(c, MetricsHistory))  # type: ignore[attr-defined]
    row = next((r for r in history.rows if r["epoch"] == best.best_epoch), {})
    return {k: v for k, v in row.items() if k.startswith("val/")}


_Stage = tuple[
    L.LightningModule,
    dict[str, ModalitySpec],
    dict[str, dict[str, CachedFeatures]],
    dict[str, Dataset[Sample]],
]


def _supervised_module(
    config: ExperimentConfig, bundle: DataBundle, run_dir: Path, pretrained: Path | None
) -> _Stage:
    """The LightningModule of a supervised run, the modalities it reads, its cached features
    and its splits (the training split reduced to ``label_fraction`` after pretraining)."""
    assert config.model is not None
    if bundle.info.task.type == "generation" or config.model.decoder is not None:
        from polymodal.train.generative import generative_module

        return generative_module(config, bundle, run_dir)
    model = build_model(config.model, bundle.info)
    splits = dict(bundle.splits)
    if pretrained is not None and config.pretrain is not None:
        _, objective = load_pretrain_objective(pretrained, bundle.info)
        transfer = config.pretrain.transfer
        moved = load_pretrained_encoders(model, objective, freeze=transfer.mode == "linear_probe")
        _LOG.info("encoders %s start from the pretrained towers (%s)", moved, transfer.mode)
        splits["train"] = stratified_subset(
            splits["train"], transfer.label_fraction, seed=config.seed
        )
    used = {name: bundle.info.modalities[name] for name in config.model.encoders}
    cached = _cached_features(config, bundle, model, run_dir)
    if cached:  # frozen encoders read stored features; the state_dict keeps the real model's keys
        model = cached_view(model, list(cached["train"]))
    return LitMultimodal(model, config.train, bundle.info.task, config.seed), used, cached, splits


def _pretrain_module(config: ExperimentConfig, bundle: DataBundle, run_dir: Path) -> _Stage:
    """The LightningModule of a pretraining run (see :func:`_supervised_module`)."""
    assert config.pretrain is not None
    objective = build_pretrain_objective(config, bundle.info)
    modalities = config.pretrain.modalities
    used = {m: bundle.info.modalities[m] for m in modalities}
    cfg = config.pretrain_train
    cached: dict[str, dict[str, CachedFeatures]] = {}
    cache_dir = cache_dir_of(cfg.feature_cache, run_dir)
    if cache_dir is not None:
        objective, cached = cached_objective(
            config, bundle, objective, cache_dir, batch_size=cfg.batch_size
        )
    keys = item_key_index(bundle, modalities)
    return LitPretrain(objective, cfg, config.seed, keys), used, cached, dict(bundle.splits)


def _cached_features(
    config: ExperimentConfig,
    bundle: DataBundle,
    model: MultimodalModel,
    run_dir: Path,
) -> dict[str, dict[str, CachedFeatures]]:
    """``split -> modality -> cached features`` of the frozen encoders when
    ``train.feature_cache`` is on (every split, batch size of training); empty otherwise."""
    cache_dir = cache_dir_of(config.train.feature_cache, run_dir)
    if cache_dir is None:
        return {}
    modalities = frozen_modalities(model)
    log_cached(modalities, model, cache_dir)
    if not modalities:
        return {}
    # features of the full splits: a reduced training split reads its rows by id
    return cache_features(
        config, bundle, model, cache_dir, modalities, batch_size=config.train.batch_size
    )


def _check_resumable(config: ExperimentConfig, run_dir: Path) -> str | None:
    """The checkpoint to resume ``run_dir`` from; None when the run (same config) stopped before
    its first checkpoint, so it starts again from the beginning.

    Raises:
        CheckpointError: a different config, or nothing of a run there at all.
    """
    path = last_checkpoint(run_dir)
    saved = config_path(run_dir)
    if saved.is_file():
        previous = yaml.safe_load(saved.read_text())
        if previous != config_to_dict(config):
            raise CheckpointError(
                "the config differs from the one this run was started with",
                where=str(saved),
                fix="resume with the same config and overrides, or train into a new --out",
            )
    if last_tensors(run_dir).is_file():
        return str(path)
    if saved.is_file():
        _LOG.warning("%s stopped before its first checkpoint: starting it again", run_dir)
        return None
    raise CheckpointError(
        "nothing to resume: no checkpoint/last.safetensors",
        where=str(run_dir),
        fix="train without --resume, or give the run directory of an interrupted run",
    )
