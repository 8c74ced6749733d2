"""A benchmark with `train.loggers: [mlflow, tensorboard]` logs one tracker run per cell whose
metrics and intervals, read back with MLflow's client and TensorBoard's reader, are the
store's; running it again logs nothing twice."""

from __future__ import annotations

import pytest
import yaml

from polymodal.bench.cells import parse_spec
from polymodal.bench.runner import run_benchmark
from polymodal.bench.tracking import CELL_TAG, cell_metrics
from polymodal.train.loggers import sqlite_uri

SPEC = """
name: tracked
datasets:
  - {name: synthetic, task: redundant, n: 160}
models:
  image-only:
    encoders: {image: {name: cnn, out_dim: 8, channels: 4, num_blocks: 2}}
seeds: [0, 1]
train: {max_epochs: 1, batch_size: 32, lr: 0.01, loggers: [mlflow, tensorboard]}
eval: {resamples: 30}
leaderboard: {resamples: 30}
"""


def test_one_tracker_run_per_cell_with_metrics_and_intervals(tmp_path):
    pytest.importorskip("mlflow", reason="no mlflow (the trackers extra)")
    pytest.importorskip("tensorboard", reason="no tensorboard (the trackers extra)")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = parse_spec(yaml.safe_load(SPEC))
    result = run_benchmark(spec, tmp_path / "bench")
    cells = {c.key: c for c in result.cells}
    assert len(cells) == 2

    client = MlflowClient(tracking_uri=sqlite_uri(tmp_path / "bench"))
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags[CELL_TAG] for r in runs) == sorted(cells)
    for run in runs:
        cell = cells[run.data.tags[CELL_TAG]]
        payload = cell.metrics
        assert run.info.run_name == cell.key
        assert run.data.params["seed"] == str(cell.seed)
        assert run.data.metrics["accuracy"] == payload["metrics"]["accuracy"]
        assert run.data.metrics["accuracy.low"] == payload["intervals"]["accuracy"]["low"]
        assert run.data.metrics["accuracy.high"] == payload["intervals"]["accuracy"]["high"]
        assert run.data.metrics == cell_metrics(cell)
        assert run.info.status == "FINISHED"

    for cell in cells.values():
        folder = tmp_path / "bench" / "tensorboard" / cell.run_path.split("/")[-1]
        events = EventAccumulator(str(folder))
        events.Reload()
        for name in ("accuracy", "log_loss.low"):
            (scalar,) = events.Scalars(name)
            assert scalar.value == pytest.approx(cell_metrics(cell)[name], rel=1e-6)

    run_benchmark(spec, tmp_path / "bench")  # nothing ran again: nothing logged again
    assert len(client.search_runs([experiment.experiment_id])) == 2
