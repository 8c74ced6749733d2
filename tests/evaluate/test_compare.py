"""`compare_runs`: paired differences of two evaluated runs, against hand computations."""

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.errors import PolymodalError
from polymodal.evaluate.compare import compare_runs


def fake_run(path, targets, predictions):
    path.mkdir()
    n_classes = 3
    table = pd.DataFrame(
        {
            "id": [f"s{i:03d}" for i in range(len(targets))],
            "target": targets,
            "prediction": predictions,
            "scores": [[1.0 if c == p else 0.0 for c in range(n_classes)] for p in predictions],
            "perturbation": "none",
            "severity": 0,
        }
    )
    table.to_parquet(path / "predictions.parquet")
    (path / "metrics.json").write_text('{"task": "multiclass"}')
    return path


def test_difference_interval_and_mcnemar_by_hand(tmp_path):
    targets = [i % 3 for i in range(60)]
    a = fake_run(tmp_path / "a", targets, list(targets))  # all right
    wrong = [(t + 1) % 3 if i < 12 else t for i, t in enumerate(targets)]  # 12 wrong
    b = fake_run(tmp_path / "b", targets, wrong)
    result = compare_runs(a, b, metrics=["accuracy"], resamples=500)
    (row,) = result.rows
    assert row["a"] == 1.0
    assert row["b"] == pytest.approx(48 / 60)
    assert row["difference"] == pytest.approx(12 / 60)
    assert 0 < row["ci_low"] <= row["difference"] <= row["ci_high"]
    assert result.mcnemar["b"] == 12
    assert result.mcnemar["c"] == 0
    assert result.mcnemar["p_value"] == pytest.approx(2 * 0.5**12)  # exact binomial, two-sided
    same = compare_runs(a, a, metrics=["accuracy"], resamples=200)
    assert (same.rows[0]["ci_low"], same.rows[0]["ci_high"]) == (0.0, 0.0)
    output = CliRunner().invoke(app, ["compare", str(a), str(b), "--bootstrap", "200"])
    assert output.exit_code == 0
    assert "| accuracy | 1.0000 | 0.8000 | +0.2000 |" in output.output


def test_runs_on_different_samples_or_unevaluated_are_refused(tmp_path):
    a = fake_run(tmp_path / "a", [0, 1, 2], [0, 1, 2])
    b = fake_run(tmp_path / "b", [0, 1], [0, 1])
    with pytest.raises(PolymodalError, match="same samples"):
        compare_runs(a, b)
    empty = tmp_path / "empty"
    shutil.copytree(a, empty)
    (empty / "predictions.parquet").unlink()
    with pytest.raises(PolymodalError, match="evaluate it first"):
        compare_runs(a, empty)


def test_row_order_does_not_matter_and_other_targets_are_refused(tmp_path):
    targets = [i % 3 for i in range(30)]
    predictions = [(t + (i % 4 == 0)) % 3 for i, t in enumerate(targets)]
    a = fake_run(tmp_path / "a", targets, targets)
    b = fake_run(tmp_path / "b", targets, predictions)
    shuffled = tmp_path / "shuffled"
    shutil.copytree(b, shuffled)
    table = pd.read_parquet(b / "predictions.parquet")
    table.sample(frac=1.0, random_state=0).to_parquet(shuffled / "predictions.parquet")
    assert compare_runs(a, b, resamples=200).rows == compare_runs(a, shuffled, resamples=200).rows
    other = fake_run(tmp_path / "other", [(t + 1) % 3 for t in targets], targets)
    with pytest.raises(PolymodalError, match="another target in A than in B"):
        compare_runs(a, other)
