"""The layout of a run directory: every file and folder name, in one place.

A run directory (``polymodal train CONFIG --out RUN``) holds::

    RUN/
      config.yaml              the resolved experiment (CONFIG_FILE)
      env.json                 versions, devices, git revision (ENV_FILE)
      skipped.jsonl            rows skipped under the ``skip`` policy (SKIPPED_FILE)
      train_summary.json       final metrics, best epoch, seconds, rows (TRAIN_SUMMARY_FILE)
      checkpoint/              (CHECKPOINT_DIR)
        model.safetensors      the best weights (WEIGHTS_FILE)
        model.json             epoch, step and metric value of those weights (WEIGHTS_INFO_FILE)
        last.safetensors       resumable state, with last.json (LAST_STEM)
        last.json
        data_state.json        the preprocessing state, e.g. a vocabulary (DATA_STATE_FILE)
        target_tokenizer.json  a generation run's target tokenizer (TARGET_TOKENIZER_FILE)
      logs/metrics.jsonl       one row of metrics per epoch (LOGS_DIR, HISTORY_FILE)
      pretrain/                stage 1 of a two-stage run, a run directory itself (PRETRAIN_DIR)

and, after ``polymodal evaluate RUN``::

      predictions.parquet      the predictions table (PREDICTIONS_FILE)
      metrics.json             every number of the evaluation (METRICS_FILE)
      report.md                the report (REPORT_FILE)
      plots/*.png              the report's figures (PLOTS_DIR, PLOT_FILES)
      retrieval_ranks.parquet  per-query ranks of a contrastive run, instead of the
                               predictions table (RANKS_FILE)

The folder ``polymodal evaluate PREDS --out DIR`` writes has the evaluation files only. This
module is a leaf: names and path functions, no I/O, no heavy import.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
ENV_FILE = "env.json"
SKIPPED_FILE = "skipped.jsonl"
TRAIN_SUMMARY_FILE = "train_summary.json"

CHECKPOINT_DIR = "checkpoint"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INFO_FILE = "model.json"
LAST_STEM = "last"
"""Stem of the resumable checkpoint: ``last.safetensors`` + ``last.json``."""
LIGHTNING_SUFFIX = ".ckpt"
"""Suffix of the path Lightning is given for a checkpoint; the files on disk are its stem's pair."""
DATA_STATE_FILE = "data_state.json"
TARGET_TOKENIZER_FILE = "target_tokenizer.json"

LOGS_DIR = "logs"
HISTORY_FILE = "metrics.jsonl"

PRETRAIN_DIR = "pretrain"
"""Folder of stage 1 inside a two-stage run directory."""

PREDICTIONS_FILE = "predictions.parquet"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
PLOTS_DIR = "plots"
RANKS_FILE = "retrieval_ranks.parquet"

PLOT_FILES = {
    "confusion_matrix": "confusion.png",
    "reliability": "reliability.png",
    "robustness": "robustness.png",
    "contribution": "contribution.png",
}
"""File name in ``plots/`` of each figure, by its key in ``metrics.json``'s ``plots``."""


def config_path(run_dir: str | Path) -> Path:
    """``RUN/config.yaml``."""
    return Path(run_dir) / CONFIG_FILE


def checkpoint_dir(run_dir: str | Path) -> Path:
    """``RUN/checkpoint``."""
    return Path(run_dir) / CHECKPOINT_DIR


def weights_path(run_dir: str | Path) -> Path:
    """``RUN/checkpoint/model.safetensors``: the best weights."""
    return checkpoint_dir(run_dir) / WEIGHTS_FILE


def data_state_path(run_dir: str | Path) -> Path:
    """``RUN/checkpoint/data_state.json``: the preprocessing state."""
    return checkpoint_dir(run_dir) / DATA_STATE_FILE


def target_tokenizer_path(run_dir: str | Path) -> Path:
    """``RUN/checkpoint/target_tokenizer.json``: a generation run's target tokenizer."""
    return checkpoint_dir(run_dir) / TARGET_TOKENIZER_FILE


def last_checkpoint(run_dir: str | Path) -> Path:
    """``RUN/checkpoint/last.ckpt``: the path Lightning writes and resumes the resumable
    checkpoint under; its files are ``last.safetensors`` + ``last.json``."""
    return checkpoint_dir(run_dir) / f"{LAST_STEM}{LIGHTNING_SUFFIX}"


def last_tensors(run_dir: str | Path) -> Path:
    """``RUN/checkpoint/last.safetensors``: present once the run has a resumable checkpoint."""
    return checkpoint_dir(run_dir) / f"{LAST_STEM}.safetensors"


def history_path(run_dir: str | Path) -> Path:
    """``RUN/logs/metrics.jsonl``."""
    return Path(run_dir) / LOGS_DIR / HISTORY_FILE


def pretrain_dir(run_dir: str | Path) -> Path:
    """``RUN/pretrain``: the pretraining stage of a two-stage run."""
    return Path(run_dir) / PRETRAIN_DIR


def plot_path(out_dir: str | Path, key: str) -> Path:
    """``OUT/plots/<file>`` of the figure ``key`` (a key of :data:`PLOT_FILES`)."""
    return Path(out_dir) / PLOTS_DIR / PLOT_FILES[key]
