"""`train.loggers: [csv, tensorboard, mlflow]`: what each tracker holds, read back with its own
reader, equals the run's metrics history; a resumed run logs into the same MLflow run; a missing
tracker package is a clear error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest

from polymodal.config import config_to_dict, parse_config
from polymodal.errors import PolymodalError
from polymodal.train import loggers as loggers_module
from polymodal.train.loggers import MLFLOW_RUN_ID, require, sqlite_uri
from polymodal.train.run import train


def config(**train):
    raw = {
        "name": "tracked",
        "seed": 1,
        "data": {"name": "synthetic", "task": "redundant", "n": 160},
        "model": {"encoders": {"image": {"name": "cnn", "out_dim": 8}}, "fusion": "concat"},
        "train": {"max_epochs": 3, "batch_size": 32, "lr": 3e-3, "progress": False} | train,
    }
    return parse_config(raw)


def history(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]


def test_each_tracker_holds_the_epoch_metrics(tmp_path):
    pytest.importorskip("mlflow", reason="no mlflow (the trackers extra)")
    pytest.importorskip("tensorboard", reason="no tensorboard (the trackers extra)")
    run_dir = tmp_path / "run"
    train(config(loggers=["csv", "tensorboard", "mlflow"]), run_dir)
    rows = history(run_dir)
    val_loss = [r["val/loss"] for r in rows]
    assert len(val_loss) == 3

    with (run_dir / "logs" / "csv" / "metrics.csv").open() as f:
        logged = [float(r["val/loss"]) for r in csv.DictReader(f) if r.get("val/loss")]
    assert logged == pytest.approx(val_loss, rel=1e-6)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "logs" / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("val/loss")] == pytest.approx(val_loss, rel=1e-6)
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(
        [r["train/loss"] for r in rows], rel=1e-6
    )

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=sqlite_uri(run_dir))
    run_id = (run_dir / "logs" / MLFLOW_RUN_ID).read_text().strip()
    run = client.get_run(run_id)
    assert run.info.run_name == "run"
    assert client.get_experiment(run.info.experiment_id).name == "tracked"
    metric = client.get_metric_history(run_id, "val/accuracy")
    assert [m.value for m in metric] == pytest.approx([r["val/accuracy"] for r in rows])
    assert run.data.params["train.lr"] == "0.003"
    assert run.data.params["model.fusion.name"] == "concat"
    assert not (tmp_path / "mlruns").exists()  # nothing outside the run directory


class Crash(L.Callback):
    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_a_resumed_run_logs_into_the_same_mlflow_run(tmp_path):
    pytest.importorskip("mlflow", reason="no mlflow (the trackers extra)")
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated"):
        train(config(loggers=["mlflow"]), run_dir, callbacks=[Crash()])
    run_id = (run_dir / "logs" / MLFLOW_RUN_ID).read_text().strip()
    train(config(loggers=["mlflow"]), run_dir, resume=True)
    assert (run_dir / "logs" / MLFLOW_RUN_ID).read_text().strip() == run_id
    client = MlflowClient(tracking_uri=sqlite_uri(run_dir))
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == 1
    last = {m.step: m.value for m in client.get_metric_history(run_id, "val/loss")}
    assert last[max(last)] == pytest.approx(history(run_dir)[-1]["val/loss"])


def test_loggers_are_left_out_of_saved_configs_at_their_default():
    assert "loggers" not in config_to_dict(config())["train"]
    assert config_to_dict(config(loggers=["csv"]))["train"]["loggers"] == ["csv"]


def test_a_missing_tracker_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(loggers_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PolymodalError, match="needs the mlflow package") as caught:
        require("mlflow")
    assert "polymodal[trackers]" in caught.value.fix
    require("csv")  # Lightning's own: nothing to install
