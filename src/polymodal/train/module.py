"""The LightningModule that trains a :class:`MultimodalModel` with its head's loss."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torchmetrics
from torch import nn

from polymodal.config import TrainConfig
from polymodal.data.schema import Batch, TaskSpec


def validation_metric(task: TaskSpec) -> tuple[str, torchmetrics.Metric]:
    """The metric logged as ``val/<name>`` for early stopping and best-checkpoint selection."""
    if task.type == "multiclass":
        return "accuracy", torchmetrics.Accuracy(task="multiclass", num_classes=task.num_outputs)
    if task.type == "multilabel":
        metric = torchmetrics.F1Score(
            task="multilabel", num_labels=task.num_outputs, average="micro"
        )
        return "f1_micro", metric
    return "mae", torchmetrics.MeanAbsoluteError()


FUSED_DEVICES = ("cpu", "cuda")
"""Devices on which Adam and AdamW use torch's fused kernel (one kernel for all parameters)."""


def build_optimizer(params: Any, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``cfg`` over a list of parameters. Adam and AdamW run fused (one kernel
    over every parameter instead of about ten small operations per parameter tensor, the default
    on CPU) when every parameter is a floating-point tensor on a device of ``FUSED_DEVICES``: the
    same update up to rounding, and less time per training step for the small presets
    (``docs/experiments/preset-quality.md``, E7)."""
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    fused = bool(params) and all(
        p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params
    )
    kind = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)


def lr_factor(epoch: float, cfg: TrainConfig) -> float:
    """Learning-rate multiplier at a (fractional) ``epoch``: linear warm-up over
    ``warmup_epochs``, then constant, cosine decay to 0 at ``max_epochs``, or step decay by
    ``gamma`` every ``step_size`` epochs."""
    if epoch < cfg.warmup_epochs:
        return (epoch + 1e-3) / cfg.warmup_epochs
    if cfg.scheduler == "cosine":
        span = max(cfg.max_epochs - cfg.warmup_epochs, 1)
        progress = min((epoch - cfg.warmup_epochs) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.scheduler == "step":
        return cfg.gamma ** int((epoch - cfg.warmup_epochs) // cfg.step_size)
    return 1.0


class LitMultimodal(L.LightningModule):
    """Training, validation and optimisation of a multimodal model.

    The global RNG is reseeded from ``(seed, global step)`` before every training step, the
    training sampler permutes by ``(seed, epoch)``, and the learning rate is scheduled per step:
    a run resumed from a checkpoint continues exactly as the uninterrupted run would
    (bit-identical on CPU).
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, task: TaskSpec, seed: int) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.task = task
        self.seed = seed
        self.val_metric_name, self.val_metric = validation_metric(task)

    def forward(self, batch: Batch) -> Any:
        return self.model(batch)

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int):
        return batch.to(device)

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> None:
        torch.manual_seed(self.seed * 1_000_003 + self.global_step)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        output = self.model(batch)
        loss = self.model.loss(output, batch.target)
        size = len(batch)  # sync_dist: under DDP every rank logs the mean over all ranks
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        output = self.model(batch)
        loss = self.model.loss(output, batch.target)
        prediction = self.model.predict(output)
        target = batch.target
        if self.task.type == "multiclass":
            self.val_metric.update(prediction.prediction, target)
        elif self.task.type == "multilabel":
            self.val_metric.update(prediction.scores, target.long())
        else:
            self.val_metric.update(prediction.prediction, target)
        size = len(batch)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        name = f"val/{self.val_metric_name}"
        self.log(name, self.val_metric, on_epoch=True, prog_bar=True, batch_size=size)

    def configure_optimizers(self) -> Any:
        return configure_optimization(self, self.cfg)


def configure_optimization(module: L.LightningModule, cfg: TrainConfig) -> Any:
    """Optimiser over ``module``'s trainable parameters and, unless the schedule is constant, a
    per-step LambdaLR following :func:`lr_factor` (what ``configure_optimizers`` returns)."""
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, cfg)
    if cfg.scheduler == "none" and cfg.warmup_epochs == 0:
        return optimizer
    steps_per_epoch = max(module.trainer.estimated_stepping_batches / cfg.max_epochs, 1.0)

    def factor(step: int) -> float:  # a plain function: LambdaLR keeps it out of its state
        return lr_factor(step / steps_per_epoch, cfg)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
    }
