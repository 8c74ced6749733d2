"""Callbacks that keep the run directory's model weights up to date."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from polymodal.io import write_json_atomic, write_text_atomic
from polymodal.rundir.codec import checkpoint_files, checkpoint_stem, save_weights
from polymodal.rundir.layout import WEIGHTS_FILE, WEIGHTS_INFO_FILE

_LOG = logging.getLogger("polymodal")


class BestWeights(L.Callback):
    """Writes ``checkpoint/model.safetensors``: with ``selection="best"`` whenever the monitored
    metric improves, with ``selection="last"`` after every epoch (so the last epoch's weights).

    Without validation data (or without the metric) the last epoch's weights are kept whatever
    the selection. ``checkpoint/model.json`` records the epoch, the metric's value and the rule
    that chose the weights (:attr:`rule`: ``best`` or ``last``). The callback's own state (best
    value, epoch) goes into the resumable checkpoint, so a resumed run selects the same best
    epoch as an uninterrupted one.
    """

    def __init__(
        self,
        directory: Path,
        monitor: str = "val/loss",
        mode: str = "min",
        selection: str = "best",
    ) -> None:
        if selection not in ("best", "last"):
            raise ValueError(f"selection must be 'best' or 'last', got {selection!r}")
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.selection = selection
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.rule = selection
        self._told = False  # the no-validation rule is logged once per run

    def _improved(self, value: float) -> bool:
        if self.best is None or math.isnan(self.best):
            return not math.isnan(value)
        return value < self.best if self.mode == "min" else value > self.best

    def _save(
        self, trainer: L.Trainer, module: L.LightningModule, value: float | None, rule: str
    ) -> None:
        self.rule = rule
        if not trainer.is_global_zero:
            return
        state = {k: v.detach().cpu() for k, v in module.model.state_dict().items()}
        save_weights(state, self.directory / WEIGHTS_FILE)
        info = {
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "monitor": self.monitor,
            "value": value,
            "selection": rule,
        }
        write_json_atomic(self.directory / WEIGHTS_INFO_FILE, info)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metric = trainer.callback_metrics.get(self.monitor)
        if metric is None:
            return
        value = float(metric)
        if self._improved(value):
            self.best, self.best_epoch = value, trainer.current_epoch
            if self.selection == "best":
                self._save(trainer, module, value, "best")

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        metric = trainer.callback_metrics.get(self.monitor)
        if self.selection == "last":  # after this epoch's validation: the latest weights
            self._save(trainer, module, None if metric is None else float(metric), "last")
        elif metric is None and self.best is None:
            if not self._told and trainer.is_global_zero:
                _LOG.warning(
                    "no validation metric %r (no validation split?): the last epoch's weights "
                    "are kept as the model",
                    self.monitor,
                )
                self._told = True
            self._save(trainer, module, None, "last")  # no validation: keep the latest weights

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
        self.best_epoch = state_dict.get("best_epoch")


#: Suffix of the stem a new resumable checkpoint is staged under before it replaces ``last``.
STAGING_SUFFIX = "-next"


def _staging_files(path: Path) -> tuple[Path, Path]:
    """``(<stem>-next.safetensors, <stem>-next.json)`` for the checkpoint path ``path``."""
    stem = checkpoint_stem(path)
    return checkpoint_files(stem.with_name(stem.name + STAGING_SUFFIX))


class LastCheckpoint(Checkpoint):
    """Saves the resumable checkpoint (``last.safetensors`` + ``last.json``) after every epoch.

    It is saved at the end of the training epoch, after validation, early stopping, best weights
    and the metrics history have updated their state. Being a Lightning ``Checkpoint``, it runs
    with the monitoring callbacks, after the module's own epoch-end hook, and Lightning moves it
    behind them all: ``EarlyStopping`` counts the epoch (it checks at the end of the training
    epoch) before the state is saved, so a run killed after that epoch resumes with the count
    an uninterrupted run has. (Needs ``Trainer(enable_checkpointing=True)``.)

    A process killed at any instant (SIGKILL, power loss) leaves a pair that loads: the new pair
    is written in full as ``last-next.*`` (each file atomically), then renamed over ``last.*``
    tensors first, JSON second. The only torn state, a kill between the two renames, is
    ``last-next.json`` without its tensors file; :func:`recover_last_checkpoint` completes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        staged_tensors, staged_json = _staging_files(self.path)
        trainer.save_checkpoint(staged_tensors, weights_only=False)  # every rank; rank 0 writes
        if trainer.is_global_zero:
            tensors, json_file = checkpoint_files(checkpoint_stem(self.path))
            os.replace(staged_tensors, tensors)
            os.replace(staged_json, json_file)


def recover_last_checkpoint(path: Path) -> None:
    """Bring the resumable checkpoint at ``path`` (``.../last.ckpt``) to a consistent pair.

    After a kill between :class:`LastCheckpoint`'s two renames, ``last.safetensors`` is new and
    ``last-next.json`` holds its JSON: the JSON is moved into place. A staged pair not yet renamed
    (a kill while it was written) is deleted, so ``last`` stays the previous complete checkpoint;
    so are the temporary files of atomic writes cut short in that folder. Call it before
    resuming, from one process only.
    """
    staged_tensors, staged_json = _staging_files(Path(path))
    if staged_json.is_file() and not staged_tensors.is_file():
        os.replace(staged_json, checkpoint_files(checkpoint_stem(Path(path)))[1])
    staged_tensors.unlink(missing_ok=True)
    staged_json.unlink(missing_ok=True)
    for temp in Path(path).parent.glob(".*.tmp"):  # left by atomic writes cut short
        temp.unlink(missing_ok=True)


class MetricsHistory(L.Callback):
    """Keeps one row of epoch metrics per epoch in ``logs/metrics.jsonl`` (rewritten atomically).

    A row holds ``epoch``, ``step``, the epoch's metrics and ``epoch_seconds``: wall-clock
    seconds from the start of the epoch's training to its end, validation included.

    The rows, less their seconds, are part of the resumable checkpoint, so a resumed run's
    history is exactly the uninterrupted run's (no epoch lost, none repeated) and its checkpoint
    does not depend on timing; the seconds of epochs before the interruption are read back
    from the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self.seconds: dict[int, float] = {}  # epoch -> seconds
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        self.seconds[epoch] = time.perf_counter() - self._start
        row: dict[str, Any] = {"epoch": epoch, "step": trainer.global_step}
        for key, value in sorted(trainer.callback_metrics.items()):
            if value.numel() == 1:
                row[key] = float(value)
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [row]
        if trainer.is_global_zero:
            text = "".join(json.dumps(self._timed(r)) + "\n" for r in self.rows)
            write_text_atomic(self.path, text)

    def _timed(self, row: dict[str, Any]) -> dict[str, Any]:
        seconds = self.seconds.get(row["epoch"])
        return row if seconds is None else {**row, "epoch_seconds": seconds}

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
        if self.path.is_file():  # the seconds of the epochs already run
            for line in self.path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                if "epoch_seconds" in row:
                    self.seconds[row["epoch"]] = row["epoch_seconds"]
