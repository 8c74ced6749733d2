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


def _run(*args: str):
    return CliRunner().invoke(app, ["evaluate", *args])


def test_cli_all_zero_labels_keep_mae_and_rmse(tmp_path):
    rows = [{"id": i, "target": 0.0, "prediction": 0.25} for i in range(40)]
    (tmp_path / "z.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    result = _run(
        str(tmp_path / "z.jsonl"),
        "--task",
        "regression",
        "--metrics",
        "mae,rmse,pearson,acc2_nonzero,f1_nonzero",
        "--bootstrap",
        "100",
    )
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "z-evaluation" / "metrics.json").read_text())
    assert written["metrics"]["mae"] == pytest.approx(0.25)
    assert written["metrics"]["rmse"] == pytest.approx(0.25)
    assert written["metrics"]["pearson"] is None  # NaN in strict JSON
    assert "constant" in written["notes"]["pearson"]
    assert "non-zero label" in written["notes"]["acc2_nonzero"]
    assert "classes" not in result.output
    assert "note: f1_nonzero" in result.output


def test_predictions_without_scores_skip_what_needs_them(tmp_path):
    frame = classification_frame(3).drop(columns="scores")
    frame.to_csv(tmp_path / "p.csv", index=False)
    result = _run(str(tmp_path / "p.csv"), "--metrics", "accuracy,auroc,ece", "--bootstrap", "50")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "p-evaluation" / "metrics.json").read_text())
    assert written["metrics"]["accuracy"] == pytest.approx(
        accuracy_score(frame["target"], frame["prediction"])
    )
    assert written["notes"]["auroc"].startswith("skipped")
    assert written["notes"]["ece"].startswith("skipped")
    assert "reliability" not in written["plots"]


def test_nan_scores_name_the_row_and_disagreements_are_reported(tmp_path):
    frame = classification_frame(4)
    bad = frame.copy()
    bad.loc[6, "scores"] = "[0.5, NaN, 0.5]"
    bad.to_json(tmp_path / "bad.jsonl", orient="records", lines=True)
    with pytest.raises(DataError, match=r"row 7 \(id 'x6'\) has NaN"):
        read_predictions(tmp_path / "bad.jsonl")
    frame.loc[[2, 9], "prediction"] = (frame.loc[[2, 9], "prediction"] + 1) % 3
    frame.to_csv(tmp_path / "p.csv", index=False)
    payload = evaluate_predictions(tmp_path / "p.csv", "multiclass", tmp_path / "out")
    assert payload["checks"] == {"argmax_disagreements": 2, "first_id": "x2"}
    result = _run(str(tmp_path / "p.csv"), "--bootstrap", "0")
    assert "2 predictions are not the arg-max of their scores (first: id x2)" in result.output


def test_scores_add_probability_metrics_and_options_reach_them(tmp_path):
    from sklearn.metrics import log_loss, roc_auc_score

    from polymodal.evaluate.metrics import create_metric, inputs_from_table

    frame = classification_frame(5)
    frame.to_csv(tmp_path / "p.csv", index=False)
    payload = evaluate_predictions(tmp_path / "p.csv", "multiclass", tmp_path / "out")
    table = read_predictions(tmp_path / "p.csv")
    scores = np.stack(table["scores"])
    assert payload["metrics"]["auroc"] == pytest.approx(
        roc_auc_score(table["target"], scores, multi_class="ovr")
    )
    assert payload["metrics"]["log_loss"] == pytest.approx(log_loss(table["target"], scores))
    assert {"auprc", "brier", "ece"} <= set(payload["metrics"])
    result = _run(
        str(tmp_path / "p.csv"),
        "--metrics",
        "ece,top_k_accuracy",
        "--metric-option",
        "ece.bins=4",
        "--metric-option",
        "top_k_accuracy.k=2",
        "-o",
        str(tmp_path / "opt"),
    )
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "opt" / "metrics.json").read_text())
    inputs = inputs_from_table(table, "multiclass")
    assert written["metrics"]["ece:bins=4"] == pytest.approx(
        create_metric("ece:bins=4").compute(inputs)
    )
    assert written["metrics"]["top_k_accuracy:k=2"] == pytest.approx(
        create_metric("top_k_accuracy:k=2").compute(inputs)
    )
    wrong = _run(str(tmp_path / "p.csv"), "--metrics", "ece", "--metric-option", "ece.k=2")
    assert wrong.exit_code == 2
    assert "its parameters: bins" in wrong.output
