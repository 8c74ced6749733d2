"""Callbacks that keep the run directory's model weights up to date."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import lightning as L

from polymodal.io import write_json_atomic, write_text_atomic
from polymodal.train.checkpoint import save_weights


class BestWeights(L.Callback):
    """Writes ``checkpoint/model.safetensors`` whenever the monitored metric improves.

    Without validation data (or without the metric) the last epoch's weights are kept. The
    callback's own state (best value, epoch) goes into the resumable checkpoint, so a resumed run
    selects the same best epoch as an uninterrupted one.
    """

    def __init__(self, directory: Path, monitor: str = "val/loss", mode: str = "min") -> None:
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = None
        self.best_epoch: int | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None or math.isnan(self.best):
            return not math.isnan(value)
        return value < self.best if self.mode == "min" else value > self.best

    def _save(self, trainer: L.Trainer, module: L.LightningModule, value: float | None) -> None:
        if not trainer.is_global_zero:
            return
        state = {k: v.detach().cpu() for k, v in module.model.state_dict().items()}
        save_weights(state, self.directory / "model.safetensors")
        info = {
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "monitor": self.monitor,
            "value": value,
        }
        write_json_atomic(self.directory / "model.json", info)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metric = trainer.callback_metrics.get(self.monitor)
        if metric is None:
            return
        value = float(metric)
        if self._improved(value):
            self.best, self.best_epoch = value, trainer.current_epoch
            self._save(trainer, module, value)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.monitor not in trainer.callback_metrics and self.best is None:
            self._save(trainer, module, None)  # no validation: keep the latest weights

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
        self.best_epoch = state_dict.get("best_epoch")


def read_best_info(directory: Path) -> dict[str, Any]:
    """The ``model.json`` written beside the best weights (epoch, monitor, value)."""
    return json.loads((Path(directory) / "model.json").read_text())


class LastCheckpoint(L.Callback):
    """Saves the resumable checkpoint (``last.safetensors`` + ``last.json``) after every epoch.

    It is saved at the end of the training epoch, after validation, early stopping, best weights
    and the metrics history have updated their state. Keep it last among the callbacks.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)


class MetricsHistory(L.Callback):
    """Keeps one row of epoch metrics per epoch in ``logs/metrics.jsonl`` (rewritten atomically).

    The rows are part of the resumable checkpoint, so a resumed run's history is exactly the
    uninterrupted run's: no epoch lost, none repeated.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        row: dict[str, Any] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        for key, value in sorted(trainer.callback_metrics.items()):
            if value.numel() == 1:
                row[key] = float(value)
        self.rows = [r for r in self.rows if r["epoch"] < trainer.current_epoch] + [row]
        if trainer.is_global_zero:
            text = "".join(json.dumps(r) + "\n" for r in self.rows)
            write_text_atomic(self.path, text)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
