"""Continue the training of a run directory where it stopped, whatever stopped it.

:func:`run_state` tells what a run directory holds for a config: nothing (``new``), a run of
another config or one marked failed (``stale``), an interrupted run of this config
(``interrupted``: its ``checkpoint/last`` pair, or a two-stage run's ``pretrain/`` stage), or a
finished one (``finished``: ``train_summary.json`` of this config). :func:`train_or_resume`
acts on it: trains a new or stale directory from scratch (a stale one is emptied first),
resumes an interrupted one with :func:`polymodal.train.run.train` (``resume=True``: weights,
optimizer, scheduler, RNG states, epoch, early-stopping, best-weights and history state), and
leaves a finished one alone. The resumed run ends bit-identical (on CPU) to an uninterrupted
one; the checkpoint is saved after every epoch, so at most one epoch is trained twice.

A benchmark cell (:func:`polymodal.bench.runner.run_cell`) goes through here, so a cell killed
mid-training (SIGKILL, a lost machine) continues from its last epoch on the next claim. A cell
that raised is marked with :data:`FAILED_MARK` and starts again from scratch when retried.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from polymodal.config import ExperimentConfig, config_to_dict
from polymodal.rundir.layout import TRAIN_SUMMARY_FILE, config_path, pretrain_dir

if TYPE_CHECKING:
    import lightning as L

    from polymodal.train.run import TrainResult

RunState = Literal["new", "stale", "interrupted", "finished"]

FAILED_MARK = "failed.txt"
"""A file in a run directory whose training or evaluation raised (its text: the error)."""


def _saved_config(run_dir: Path) -> object:
    path = config_path(run_dir)
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def run_state(config: ExperimentConfig, run_dir: str | Path) -> RunState:
    """What ``run_dir`` holds of a training run of ``config`` (see the module docstring)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return "new"
    if (run_dir / FAILED_MARK).exists():
        return "stale"
    saved = _saved_config(run_dir)
    if saved is not None:
        if saved != config_to_dict(config):
            return "stale"
        return "finished" if (run_dir / TRAIN_SUMMARY_FILE).is_file() else "interrupted"
    if config.pretrain is not None and config.model is not None:
        from polymodal.train.pretrain import stage_one_config

        stage = _saved_config(pretrain_dir(run_dir))
        if stage is not None and stage == config_to_dict(stage_one_config(config)):
            return "interrupted"  # stopped in stage 1 (or before stage 2 wrote its header)
    return "stale"


def train_or_resume(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    callbacks: list[L.Callback] | tuple[L.Callback, ...] = (),
) -> tuple[RunState, TrainResult | None]:
    """Train ``config`` into ``run_dir``, continuing an interrupted run of it.

    Returns:
        The state found (:func:`run_state`) and the training result (None when the run had
        finished already: nothing is trained).
    """
    from polymodal.train.run import train

    run_dir = Path(run_dir)
    state = run_state(config, run_dir)
    if state == "finished":
        return state, None
    if state == "stale":
        shutil.rmtree(run_dir)
    result = train(config, run_dir, resume=state == "interrupted", callbacks=callbacks)
    return state, result


def mark_failed(run_dir: str | Path, error: str) -> None:
    """Mark ``run_dir`` failed (:data:`FAILED_MARK`), so a retry starts it from scratch."""
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        (run_dir / FAILED_MARK).write_text(error, encoding="utf-8")
