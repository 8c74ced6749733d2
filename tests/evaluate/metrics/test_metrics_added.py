"""Metrics the peers have, each against a reference (issue 12.6), and one rule for undefined
values (issue 12.2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    log_loss,
    mean_squared_error,
    precision_score,
    recall_score,
)
from torchmetrics.functional import mean_absolute_error, pearson_corrcoef

from polymodal.evaluate.metrics import MetricError, MetricInputs, create_metric


def binary_inputs(seed: int = 0, n: int = 120) -> MetricInputs:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, n)
    p1 = np.clip(0.5 + 0.3 * (target - 0.5) + rng.normal(0, 0.25, n), 0.01, 0.99)
    scores = np.stack([1 - p1, p1], axis=1)
    return MetricInputs("multiclass", target, (p1 > 0.5).astype(int), scores)


def test_log_loss_equals_scikit_learn(multiclass_inputs):
    inputs = multiclass_inputs
    expected = log_loss(inputs.target, inputs.scores, labels=range(inputs.num_classes))
    assert create_metric("log_loss").compute(inputs) == pytest.approx(expected, rel=1e-12)
    assert create_metric("log_loss").higher_is_better is False


@pytest.mark.parametrize("positive", [0, 1])
def test_binary_precision_recall_f1_equal_scikit_learn(positive):
    inputs = binary_inputs()
    for name, reference in (
        ("precision", precision_score),
        ("recall", recall_score),
        ("f1", f1_score),
    ):
        expected = reference(inputs.target, inputs.prediction, pos_label=positive)
        value = create_metric(f"{name}_binary:positive={positive}").compute(inputs)
        assert value == pytest.approx(expected, abs=1e-12)
    with pytest.raises(MetricError, match="positive class 5"):
        create_metric("f1_binary:positive=5").compute(inputs)


def test_binary_brier_equals_scikit_learn_and_is_half_the_multiclass_sum():
    inputs = binary_inputs(1)
    expected = brier_score_loss(inputs.target, inputs.scores[:, 1])
    assert create_metric("brier_binary").compute(inputs) == pytest.approx(expected)
    assert create_metric("brier").compute(inputs) == pytest.approx(2 * expected)


def test_ece_of_p_positive_by_hand():
    p1 = np.array([0.05, 0.15, 0.35, 0.45, 0.55, 0.95])
    target = np.array([0, 1, 0, 1, 1, 1])
    inputs = MetricInputs("multiclass", target, (p1 > 0.5).astype(int), np.c_[1 - p1, p1])
    # 2 bins: (0, .5] holds p = .05 .15 .35 .45 with y = 0 1 0 1; (.5, 1] holds .55 .95, y = 1 1
    expected = (abs(2 - 1.0) + abs(2 - 1.5)) / 6
    assert create_metric("ece_positive:bins=2").compute(inputs) == pytest.approx(expected)


def test_mse_equals_scikit_learn(sentiment_inputs):
    inputs = sentiment_inputs
    expected = mean_squared_error(inputs.target, inputs.prediction)
    assert create_metric("mse").compute(inputs) == pytest.approx(expected, rel=1e-12)


def test_mae_and_pearson_equal_torchmetrics_and_scipy(sentiment_inputs):
    x, y = sentiment_inputs.prediction[:, 0], sentiment_inputs.target[:, 0]
    mae = mean_absolute_error(torch.tensor(x), torch.tensor(y))
    assert create_metric("mae").compute(sentiment_inputs) == pytest.approx(float(mae))
    r = pearson_corrcoef(torch.tensor(x), torch.tensor(y))
    assert create_metric("pearson").compute(sentiment_inputs) == pytest.approx(float(r))
    assert create_metric("pearson").compute(sentiment_inputs) == pytest.approx(
        stats.pearsonr(x, y).statistic, abs=1e-12
    )


def sentiment(target: list[float], prediction: list[float]) -> MetricInputs:
    t, p = np.asarray(target, float)[:, None], np.asarray(prediction, float)[:, None]
    return MetricInputs("regression", t, p, p)


def test_acc3_and_multibench_acc2_by_hand():
    inputs = sentiment([-2.0, -0.4, 0.0, 0.0, 0.6, 2.5], [-0.6, 0.4, -0.2, 0.3, 1.4, -0.1])
    # Acc-3: clip to [-1, 1], round: target -1 -0 0 0 1 1, prediction -1 0 -0 0 1 -0
    assert create_metric("acc3").compute(inputs) == pytest.approx(5 / 6)
    # MultiBench include-zero: (> 0) on every sample: target F F F F T T, prediction F T F T T F
    assert create_metric("acc2_zero_negative").compute(inputs) == pytest.approx(3 / 6)
    # MMSA has-0 (>= 0): target F F T T T T, prediction F T F T T F
    assert create_metric("acc2_nonneg").compute(inputs) == pytest.approx(3 / 6)
    # MMSA non-0 (labels != 0): target F F T T, prediction F T T F
    assert create_metric("acc2_nonzero").compute(inputs) == pytest.approx(2 / 4)


def test_undefined_values_are_nan_with_a_reason():
    constant = sentiment([0.5, -1.0, 2.0, 1.5], [0.1, 0.1, 0.1, 0.1])
    for name in ("pearson", "spearman"):
        metric = create_metric(name)
        assert np.isnan(metric.compute(constant)), name
        assert "prediction is constant" in metric.why_undefined(constant)
    with pytest.warns(stats.ConstantInputWarning):
        assert np.isnan(stats.pearsonr(constant.prediction[:, 0], constant.target[:, 0])[0])
    zeros = sentiment([0.0, 0.0, 0.0], [0.4, -0.3, 1.0])
    for name in ("acc2_nonzero", "f1_nonzero"):
        metric = create_metric(name)
        assert np.isnan(metric.compute(zeros)), name
        assert "non-zero label" in metric.why_undefined(zeros)


def test_pearson_of_a_resample_with_constant_prediction_is_nan():
    inputs = sentiment([0.5, -1.0, 2.0, 1.5], [0.3, 0.1, 0.1, 0.7])
    values = create_metric("pearson").compute_resampled(
        inputs, np.array([[1, 2, 1, 2], [0, 1, 2, 3]])
    )
    assert np.isnan(values[0])
    assert values[1] == pytest.approx(
        stats.pearsonr(inputs.prediction[:, 0], inputs.target[:, 0])[0]
    )
