"""Calibration: ECE (equal width, equal mass) and reliability data by hand, Brier vs sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from polymodal.evaluate.metrics import MetricInputs, create_metric, reliability_diagram
from polymodal.evaluate.metrics.calibration import (
    EqualMassECE,
    ExpectedCalibrationError,
    width_bins,
)

# confidence / correct: 0.9 / 1, 0.7 / 0, 0.75 / 1, 0.45 / 0 (top class 2), 0.5 / 1
SCORES = np.array(
    [
        [0.9, 0.05, 0.05],
        [0.7, 0.2, 0.1],
        [0.1, 0.75, 0.15],
        [0.3, 0.25, 0.45],
        [0.5, 0.25, 0.25],
    ]
)
TARGET = np.array([0, 1, 1, 0, 0])


@pytest.fixture
def tiny() -> MetricInputs:
    return MetricInputs("multiclass", TARGET, SCORES.argmax(axis=1), SCORES)


def test_ece_equal_width_by_hand(tiny):
    # 5 bins: (0.8, 1]: {0.9/1}; (0.6, 0.8]: {0.7/0, 0.75/1}; (0.4, 0.6]: {0.45/0, 0.5/1}
    expected = 1 / 5 * 0.1 + 2 / 5 * abs(0.5 - 0.725) + 2 / 5 * abs(0.5 - 0.475)
    assert ExpectedCalibrationError(5).compute(tiny) == pytest.approx(expected)
    assert expected == pytest.approx(0.12)


def test_ece_equal_mass_by_hand(tiny):
    # sorted by confidence: 0.45/0, 0.5/1, 0.7/0 | 0.75/1, 0.9/1 (sizes 3, 2)
    expected = 3 / 5 * abs(1 / 3 - 0.55) + 2 / 5 * abs(1.0 - 0.825)
    assert EqualMassECE(2).compute(tiny) == pytest.approx(expected)


def test_equal_width_bins_include_their_upper_edge():
    confidence = np.array([0.0, 0.2, 0.2 + 1e-9, 0.4, 0.99, 1.0])
    np.testing.assert_array_equal(width_bins(confidence, 5), [0, 0, 1, 1, 4, 4])


def test_equal_mass_ties_put_incorrect_samples_first():
    # three samples of confidence 0.6, correct 1 0 0; bins of sizes 2, 1 after sorting
    scores = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    inputs = MetricInputs("multiclass", [0, 1, 1], [0, 0, 0], scores)
    expected = 2 / 3 * abs(0.0 - 0.6) + 1 / 3 * abs(1.0 - 0.6)  # [0, 0 | 1]
    assert EqualMassECE(2).compute(inputs) == pytest.approx(expected)


def test_registered_ece_uses_15_bins_and_takes_n_bins(multiclass_inputs):
    assert create_metric("ece").n_bins == 15
    conf = multiclass_inputs.scores.max(axis=1)
    correct = multiclass_inputs.scores.argmax(axis=1) == multiclass_inputs.target
    bins = np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9)  # (m/10, (m+1)/10]
    expected = sum(abs(correct[bins == m].sum() - conf[bins == m].sum()) for m in range(10)) / len(
        conf
    )
    assert ExpectedCalibrationError(10).compute(multiclass_inputs) == pytest.approx(expected)


def test_reliability_diagram_by_hand(tiny):
    data = reliability_diagram(tiny, n_bins=5)
    assert data["count"] == [0, 0, 2, 2, 1]
    np.testing.assert_allclose(data["accuracy"][2:], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(data["confidence"][2:], [0.475, 0.725, 0.9])
    assert np.isnan(data["accuracy"][0])
    np.testing.assert_allclose(data["edges"], np.linspace(0, 1, 6))
    assert data["ece"] == pytest.approx(0.12)
    mass = reliability_diagram(tiny, n_bins=2, strategy="mass")
    assert mass["count"] == [3, 2]
    assert mass["ece"] == pytest.approx(EqualMassECE(2).compute(tiny))


def test_brier_score(tiny):
    onehot = np.eye(3)[TARGET]
    expected = np.mean(((SCORES - onehot) ** 2).sum(axis=1))
    assert create_metric("brier").compute(tiny) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    positive = rng.random(50)
    target = (rng.random(50) < positive).astype(int)
    binary = MetricInputs("multiclass", target, positive > 0.5, np.c_[1 - positive, positive])
    # sklearn's binary Brier counts the positive class only: the two-class sum is twice it
    expected = 2 * skm.brier_score_loss(target, positive)
    assert create_metric("brier").compute(binary) == pytest.approx(expected, abs=1e-12)


def test_equal_mass_resampling_is_vectorised_and_exact(make_inputs):
    inputs = make_inputs("multiclass", 9, n=97, c=3)
    metric = EqualMassECE(7)
    indices = np.random.default_rng(1).integers(0, 97, (25, 97))
    expected = [reliability_diagram(inputs.take(row), 7, "mass")["ece"] for row in indices]
    np.testing.assert_allclose(metric.compute_resampled(inputs, indices), expected, atol=1e-12)
