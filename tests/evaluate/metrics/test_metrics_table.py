"""The table-level API: metric specs with options, default sets, each metric on its own, and
identical statistics giving identical intervals (issue 12.3, 12.4, 12.5, 12.8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from polymodal.evaluate.metrics import (
    MetricError,
    create_metric,
    default_metrics,
    evaluate_metrics,
    parse_metric_spec,
    with_options,
)
from polymodal.evaluate.stats import bootstrap_ci


def regression_table(target: np.ndarray, prediction: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"target": target, "prediction": prediction, "scores": prediction})


def test_specs_carry_parameters_to_the_factory():
    assert parse_metric_spec("top_k_accuracy:k=3,ties=pessimistic") == (
        "top_k_accuracy",
        {"k": 3, "ties": "pessimistic"},
    )
    assert parse_metric_spec("auroc:absent_class=nan")[1] == {"absent_class": "nan"}
    metric = create_metric("ece:bins=10")
    assert metric.n_bins == 10
    assert with_options(["auroc", "ece"], ["ece.bins=10", "auroc.absent_class=drop"]) == [
        "auroc:absent_class=drop",
        "ece:bins=10",
    ]
    with pytest.raises(MetricError, match=r"not NAME\.KEY=VALUE for a chosen metric"):
        with_options(["auroc"], ["ece.bins=10"])
    with pytest.raises(MetricError, match="its parameters: bins"):
        create_metric("ece:n=3")


def test_defaults_with_scores_add_the_probability_metrics():
    assert default_metrics("multiclass", with_scores=True)[-5:] == [
        "auroc",
        "auprc",
        "log_loss",
        "brier",
        "ece",
    ]
    assert default_metrics("multiclass")[0] == default_metrics("multiclass", with_scores=True)[0]


def test_all_zero_labels_and_constant_predictions_lose_no_other_metric():
    rng = np.random.default_rng(0)
    table = regression_table(np.zeros(50), np.full(50, 0.3))
    names = ["mae", "rmse", "pearson", "spearman", "acc2_nonzero", "f1_nonzero", "acc2_nonneg"]
    report = evaluate_metrics(table, "regression", names, resamples=200)
    assert report.values["mae"] == pytest.approx(0.3)
    assert report.values["rmse"] == pytest.approx(0.3)
    assert report.intervals["mae"]["low"] == pytest.approx(0.3)
    assert report.values["acc2_nonneg"] == 1.0
    for name in ("pearson", "spearman", "acc2_nonzero", "f1_nonzero"):
        assert np.isnan(report.values[name]), name
        assert report.notes[name].startswith("undefined:"), report.notes[name]
        assert "class" not in report.notes[name]
        assert name not in report.intervals
    assert "constant" in report.notes["pearson"]
    assert "non-zero label" in report.notes["f1_nonzero"]
    varied = regression_table(rng.normal(size=50), rng.normal(size=50))
    assert not evaluate_metrics(varied, "regression", names[:4], resamples=50).notes


def test_metrics_needing_scores_are_skipped_with_a_note(multiclass_inputs):
    table = pd.DataFrame(
        {"target": multiclass_inputs.target, "prediction": multiclass_inputs.prediction}
    )
    report = evaluate_metrics(table, "multiclass", ["accuracy", "auroc", "ece"], resamples=20)
    assert set(report.values) == {"accuracy"}
    assert report.notes["auroc"].startswith("skipped: metric 'auroc' needs the scores column")
    assert "accuracy" in report.intervals


def test_identical_statistics_give_identical_intervals(make_inputs):
    inputs = make_inputs("multiclass", 5, n=120, c=5)
    assert create_metric("accuracy").compute(inputs) == create_metric("f1_micro").compute(inputs)
    intervals = {
        name: bootstrap_ci(create_metric(name), inputs, len(inputs), resamples=500, seed=3)
        for name in ("accuracy", "f1_micro", "precision_micro", "recall_micro")
    }
    bounds = {(ci.low, ci.high) for ci in intervals.values()}
    assert len(bounds) == 1, intervals
