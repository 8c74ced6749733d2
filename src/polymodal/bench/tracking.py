"""A benchmark's results in experiment trackers: one tracker run per finished cell.

With ``train.loggers`` in the spec naming ``mlflow`` or ``tensorboard``, every ``done`` cell
becomes one run once the benchmark has run (:func:`log_results`, called by the runner):

- ``mlflow``: a run named after the cell key (``dataset/model/seed``) in the experiment named
  after the spec, at ``train.tracking_uri`` (default ``sqlite:///BENCH_DIR/mlflow.db``); params
  ``dataset``, ``model``, ``seed``, ``config_hash``; metrics: each
  metric of the cell's evaluation and its interval as ``<metric>.low`` / ``<metric>.high``; tags
  ``polymodal.cell`` (the key), ``polymodal.finished`` (when the cell finished) and the primary
  metric.
- ``tensorboard``: ``BENCH_DIR/tensorboard/<run folder>/`` with the same scalars at step 0 (a
  run per folder in TensorBoard's run selector).

A cell already logged with the same finish time is skipped, so running the benchmark again adds
only the cells that ran since. The cells' own training runs log into their run directories
(:mod:`polymodal.train.loggers`).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from polymodal.bench.spec import BenchSpec
from polymodal.bench.store_base import CellRecord
from polymodal.train.loggers import require, sqlite_uri

TENSORBOARD_DIR = "tensorboard"
CELL_TAG = "polymodal.cell"
FINISHED_TAG = "polymodal.finished"
_STAMP = "cell.json"  # in a cell's TensorBoard folder: key and finish time


def cell_metrics(record: CellRecord) -> dict[str, float]:
    """The finite metrics of a done cell, with ``<metric>.low`` / ``.high`` of its intervals."""
    payload = record.metrics or {}
    out: dict[str, float] = {}
    for name, value in (payload.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[name] = float(value)
    for name, interval in (payload.get("intervals") or {}).items():
        for end in ("low", "high"):
            value = (interval or {}).get(end)
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[f"{name}.{end}"] = float(value)
    return out


def cell_params(record: CellRecord) -> dict[str, Any]:
    """What identifies a cell: dataset, model, seed, config hash."""
    return {"dataset": record.dataset, "model": record.model, "seed": record.seed,
            "config_hash": record.config_hash}  # fmt: skip


def log_results(spec: BenchSpec, bench_dir: str | Path, cells: list[CellRecord]) -> int:
    """Log every ``done`` cell of ``cells`` not logged yet to the spec's trackers.

    Returns:
        The number of cell runs written (per tracker, summed).

    Raises:
        PolymodalError: a tracker whose package is missing.
    """
    names = [n for n in spec.train.loggers if n in _WRITERS]
    done = [c for c in cells if c.status == "done" and c.metrics is not None]
    written = 0
    for name in names:
        require(name)
        written += _WRITERS[name](spec, Path(bench_dir), done)
    return written


def _mlflow(spec: BenchSpec, bench_dir: Path, cells: list[CellRecord]) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=spec.train.tracking_uri or sqlite_uri(bench_dir))
    experiment = client.get_experiment_by_name(spec.name)
    if experiment is None:
        artifacts = (bench_dir / "mlartifacts").resolve().as_uri()
        experiment_id = client.create_experiment(spec.name, artifact_location=artifacts)
    else:
        experiment_id = experiment.experiment_id
    logged = {
        (run.data.tags.get(CELL_TAG), run.data.tags.get(FINISHED_TAG))
        for run in client.search_runs([experiment_id], max_results=50000)
    }
    written = 0
    for cell in cells:
        if (cell.key, repr(cell.finished)) in logged:
            continue
        tags = {CELL_TAG: cell.key, FINISHED_TAG: repr(cell.finished),
                "primary_metric": cell.primary_metric or ""}  # fmt: skip
        run = client.create_run(experiment_id, run_name=cell.key, tags=tags)
        for key, value in cell_params(cell).items():
            client.log_param(run.info.run_id, key, value)
        for key, value in cell_metrics(cell).items():
            client.log_metric(run.info.run_id, key, value, step=0)
        client.set_terminated(run.info.run_id)
        written += 1
    return written


def _tensorboard(spec: BenchSpec, bench_dir: Path, cells: list[CellRecord]) -> int:
    from torch.utils.tensorboard import SummaryWriter

    written = 0
    for cell in cells:
        folder = bench_dir / TENSORBOARD_DIR / Path(cell.run_path).name
        stamp = {"key": cell.key, "finished": cell.finished}
        if (folder / _STAMP).is_file() and json.loads((folder / _STAMP).read_text()) == stamp:
            continue
        shutil.rmtree(folder, ignore_errors=True)  # a cell run again replaces its run
        with SummaryWriter(str(folder)) as writer:
            for key, value in cell_metrics(cell).items():
                writer.add_scalar(key, value, global_step=0)
            writer.add_text("cell", json.dumps(cell_params(cell)), global_step=0)
        (folder / _STAMP).write_text(json.dumps(stamp), encoding="utf-8")
        written += 1
    return written


_WRITERS = {"mlflow": _mlflow, "tensorboard": _tensorboard}
"""Tracker name -> writer of cell runs (``csv`` has none: the leaderboard is the table)."""
