"""`evaluate_run` end to end: one table, metrics from it, intervals, robustness, contribution."""

import json

import numpy as np
import pandas as pd
import pytest

from polymodal.config import parse_config
from polymodal.evaluate.run import EvaluationOptions, evaluate_run
from polymodal.models.builder import count_parameters
from polymodal.rundir.load import load_trained
from polymodal.train.run import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    config = parse_config(
        {
            "seed": 3,
            "data": {"name": "synthetic", "task": "redundant", "n": 200},
            "model": {
                "encoders": {
                    "image": {"name": "cnn", "out_dim": 8, "channels": 8},
                    "text": {"name": "text_gru", "out_dim": 8, "embed_dim": 8, "hidden_dim": 8},
                },
                "fusion": "concat",
            },
            "train": {"max_epochs": 2, "batch_size": 32, "lr": 0.01, "progress": False},
        }
    )
    path = tmp_path_factory.mktemp("eval") / "run"
    train(config, path)
    return path


def test_plain_evaluation_computes_metrics_from_the_table(run_dir):
    result = evaluate_run(run_dir, options=EvaluationOptions(resamples=200))
    table = pd.read_parquet(run_dir / "predictions.parquet")
    assert len(table) == result.payload["num_samples"] == 40  # 20 % of 200
    assert set(table["perturbation"]) == {"none"}
    accuracy = float((table["target"] == table["prediction"]).mean())
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert saved["primary_metric"] == "accuracy"
    assert saved["higher_is_better"] is True
    assert {"auroc", "auprc", "log_loss", "brier", "ece"} <= set(saved["metrics"])  # has scores
    for name, ci in saved["intervals"].items():
        assert ci["low"] <= saved["metrics"][name] + 1e-12 <= ci["high"] + 2e-12, name
        assert ci["level"] == 0.95
    assert (run_dir / "plots" / "confusion.png").is_file()
    report = (run_dir / "report.md").read_text()
    assert "| accuracy |" in report
    assert "95% CI (bootstrap)" in report
    again = evaluate_run(run_dir, options=EvaluationOptions(resamples=200))
    assert again.payload["intervals"] == result.payload["intervals"]
    assert again.metrics == result.metrics


def test_every_option_lands_in_the_table_metrics_and_report(run_dir):
    options = EvaluationOptions(
        robustness=True, contribution=True, efficiency=True, resamples=0, seed=1
    )
    result = evaluate_run(run_dir, options=options)
    table = pd.read_parquet(run_dir / "predictions.parquet")
    labels = set(table["perturbation"])
    for kind in ("drop", "noise", "mask"):
        assert {f"{kind}:image", f"{kind}:text"} <= labels
    assert {"keep:", "keep:image", "keep:text", "keep:image+text"} <= labels
    payload = json.loads((run_dir / "metrics.json").read_text())
    summary = payload["robustness"]["summary"]
    assert {(r["modality"], r["kind"]) for r in summary} == {
        (m, k) for m in ("image", "text") for k in ("drop", "noise", "mask")
    }

    # Shapley values are efficient: they sum to v(all) - v(none), read from the same table.
    def accuracy_of(label):
        rows = table[table["perturbation"] == label]
        return float((rows["target"] == rows["prediction"]).mean())

    shapley = {r["modality"]: r["shapley"] for r in payload["contribution"]["values"]}
    assert sum(shapley.values()) == pytest.approx(
        accuracy_of("keep:image+text") - accuracy_of("keep:")
    )
    _, _, model = load_trained(run_dir)
    assert payload["efficiency"]["params_total"] == count_parameters(model)
    assert payload["efficiency"]["training_seconds"] > 0
    assert payload["intervals"] == {}
    for plot in ("robustness", "contribution", "confusion_matrix", "reliability"):
        assert (run_dir / payload["plots"][plot]).is_file()
    report = (run_dir / "report.md").read_text()
    for section in ("## Robustness", "## Modality contribution", "## Efficiency"):
        assert section in report
    assert np.isclose(result.metrics["accuracy"], accuracy_of("none"))
