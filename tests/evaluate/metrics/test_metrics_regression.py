"""Regression metrics against scikit-learn and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from polymodal.evaluate.metrics import MetricInputs, create_metric
from polymodal.evaluate.metrics.regression import average_ranks


def value(name: str, inputs: MetricInputs) -> float:
    return float(create_metric(name).compute(inputs))


@pytest.fixture
def two_outputs() -> MetricInputs:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(70, 2)) * [1.0, 5.0]
    prediction = target + rng.normal(size=(70, 2))
    return MetricInputs("regression", target, prediction, prediction)


def test_errors_and_r2_against_sklearn(two_outputs):
    y, p = two_outputs.target, two_outputs.prediction
    assert value("mae", two_outputs) == pytest.approx(skm.mean_absolute_error(y, p), abs=1e-12)
    expected = skm.root_mean_squared_error(y, p)  # mean of the per-output RMSEs
    assert value("rmse", two_outputs) == pytest.approx(expected, abs=1e-12)
    assert value("r2", two_outputs) == pytest.approx(skm.r2_score(y, p), abs=1e-12)


def test_correlations_against_scipy(two_outputs):
    y, p = two_outputs.target, two_outputs.prediction
    pearson = np.mean([stats.pearsonr(p[:, k], y[:, k])[0] for k in range(2)])
    assert value("pearson", two_outputs) == pytest.approx(pearson, abs=1e-12)
    rounded = MetricInputs("regression", np.round(y), np.round(p), None)  # with ties
    yr, pr = rounded.target, rounded.prediction
    spearman = np.mean([stats.spearmanr(pr[:, k], yr[:, k])[0] for k in range(2)])
    assert value("spearman", rounded) == pytest.approx(spearman, abs=1e-12)


def test_pearson_is_accurate_far_from_zero():
    rng = np.random.default_rng(1)
    target = 1e6 + rng.normal(size=200)
    prediction = target + rng.normal(size=200)
    inputs = MetricInputs("regression", target, prediction)
    expected = stats.pearsonr(prediction, target)[0]
    assert value("pearson", inputs) == pytest.approx(expected, abs=1e-9)
    boot = np.random.default_rng(2).integers(0, 200, (3, 200))
    resampled = create_metric("pearson").compute_resampled(inputs, boot)
    expected = [stats.pearsonr(prediction[row], target[row])[0] for row in boot]
    np.testing.assert_allclose(resampled, expected, atol=1e-9)


def test_average_ranks_match_scipy():
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(average_ranks(x), stats.rankdata(x))


def test_constant_prediction_gives_nan_correlation():
    inputs = MetricInputs("regression", [1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert np.isnan(value("pearson", inputs))
    assert np.isnan(value("spearman", inputs))
