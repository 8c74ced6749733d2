"""Predictions made elsewhere: read from CSV / JSONL / Parquet, evaluated like our own runs."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.errors import DataError
from polymodal.evaluate.compare import compare_runs
from polymodal.evaluate.external import evaluate_predictions, read_predictions


def classification_frame(seed: int, n: int = 80, k: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scores = rng.dirichlet(np.ones(k), size=n)
    target = rng.integers(0, k, n)
    return pd.DataFrame(
        {"id": [f"x{i}" for i in range(n)], "target": target, "prediction": scores.argmax(1)}
    ).assign(scores=[json.dumps(s.tolist()) for s in scores])


def test_csv_predictions_give_reference_metrics_report_and_plots(tmp_path):
    frame = classification_frame(0)
    frame.to_csv(tmp_path / "preds.csv", index=False)
    payload = evaluate_predictions(tmp_path / "preds.csv", "multiclass", tmp_path / "out")
    assert payload["metrics"]["accuracy"] == pytest.approx(
        accuracy_score(frame["target"], frame["prediction"])
    )
    assert payload["metrics"]["f1_macro"] == pytest.approx(
        f1_score(frame["target"], frame["prediction"], average="macro")
    )
    assert payload["intervals"]["accuracy"]["low"] <= payload["metrics"]["accuracy"]
    assert (tmp_path / "out" / "plots" / "confusion.png").is_file()
    assert "made elsewhere" in (tmp_path / "out" / "report.md").read_text()
    table = read_predictions(tmp_path / "preds.csv")
    assert table["scores"].iloc[0] == pytest.approx(json.loads(frame["scores"].iloc[0]))


def test_regression_jsonl_and_comparison_with_another_file(tmp_path):
    rng = np.random.default_rng(1)
    target = rng.normal(size=50)
    for name, noise in (("a", 0.1), ("b", 1.0)):
        prediction = target + rng.normal(scale=noise, size=50)
        rows = [
            {"id": i, "target": [t], "prediction": [p]}
            for i, (t, p) in enumerate(zip(target, prediction, strict=True))
        ]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
        payload = evaluate_predictions(tmp_path / f"{name}.jsonl", "regression", tmp_path / name)
        assert payload["metrics"]["mae"] == pytest.approx(mean_absolute_error(target, prediction))
    comparison = compare_runs(tmp_path / "a", tmp_path / "b", metrics=["mae"], resamples=300)
    assert comparison.rows[0]["difference"] < 0  # a has the smaller error


def test_cli_and_bad_files(tmp_path):
    classification_frame(2).to_parquet(tmp_path / "p.parquet")
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "p.parquet"), "--bootstrap", "100"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p-evaluation" / "metrics.json").is_file()
    pd.DataFrame({"id": [1], "target": [0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="prediction"):
        read_predictions(tmp_path / "bad.csv")
    bad = CliRunner().invoke(app, ["evaluate", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 2
    assert "missing column" in bad.output
