"""`polymodal train` / `evaluate` on a contrastive config, through the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from polymodal.cli.main import app

runner = CliRunner()


def _write(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(4)])
    for i in range(4):
        frame[f"y{i}"] = -x[:, i]
    frame.to_csv(tmp_path / "pairs.csv", index=False)
    tower = {"fusion": "concat", "head": {"name": "retrieval", "embed_dim": 8}}
    config = {
        "data": {
            "name": "manifest",
            "path": str(tmp_path / "pairs.csv"),
            "modalities": {
                "x": {"kind": "tabular", "columns": [f"x{i}" for i in range(4)]},
                "y": {"kind": "tabular", "columns": [f"y{i}" for i in range(4)]},
            },
            "label": None,
        },
        "pretrain": {
            "objective": {"name": "contrastive"},
            "towers": {
                "x": {"encoders": {"x": {"name": "mlp", "out_dim": 16}}, **tower},
                "y": {"encoders": {"y": {"name": "mlp", "out_dim": 16}}, **tower},
            },
        },
        "train": {"max_epochs": 3, "batch_size": 16, "lr": 0.01, "progress": False},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_cli_trains_and_evaluates_a_contrastive_run(tmp_path):
    config = _write(tmp_path)
    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", str(config), "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    assert "trained 3 epochs" in trained.output
    evaluated = runner.invoke(app, ["evaluate", str(run), "--bootstrap", "100"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "x->y/R@1" in evaluated.output
    assert "x->y/chance_R@1" in evaluated.output
    payload = json.loads((run / "metrics.json").read_text())
    assert payload["metrics"]["x->y/gallery"] == payload["num_samples"]  # every row distinct
    ranks = pd.read_parquet(run / "retrieval_ranks.parquet")
    assert set(ranks["direction"]) == {"x->y", "y->x"}
    r1 = (ranks[ranks["direction"] == "x->y"]["first_rank"] <= 1).mean()
    assert payload["metrics"]["x->y/R@1"] == r1  # the number comes from the table


def test_cli_refuses_a_supervised_model_on_unlabelled_data(tmp_path):
    config = _write(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw.pop("pretrain")
    raw["model"] = {"encoders": {"x": "mlp"}}
    config.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "has no labels (task none)" in result.output
    assert "Traceback" not in result.output


def test_cli_refuses_supervised_evaluation_options_on_a_contrastive_run(tmp_path):
    config = _write(tmp_path)
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", str(config), "--out", str(run)]).exit_code == 0
    result = runner.invoke(app, ["evaluate", str(run), "--robustness"])
    assert result.exit_code == 2
    assert "robustness not available for a contrastive run" in result.output
