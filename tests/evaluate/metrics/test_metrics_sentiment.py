"""CMU-MOSI / MOSEI sentiment conventions against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from polymodal.evaluate.metrics import MetricError, MetricInputs, create_metric

# index:                0     1    2    3     4    5    6     7
TARGET = np.array([-2.0, -0.4, 0.0, 0.0, 1.5, 3.0, 2.5, -1.0])
PREDICTION = np.array([-1.6, 0.2, 0.0, -0.3, 0.4, 2.4, 2.0, 0.0])


@pytest.fixture
def tiny() -> MetricInputs:
    return MetricInputs("regression", TARGET, PREDICTION, PREDICTION)


def value(name: str, inputs: MetricInputs) -> float:
    return float(create_metric(name).compute(inputs))


def test_acc2_conventions_by_hand(tiny):
    # >= 0 : target F F T T T T T F, prediction F T T F T T T T -> 5 of 8 agree
    assert value("acc2_nonneg", tiny) == pytest.approx(5 / 8)
    # labels != 0 (0 1 4 5 6 7): target > 0 F F T T T F, prediction > 0 F T T T T F -> 5 of 6
    # (a prediction of exactly 0 counts as negative here, as in MMSA)
    assert value("acc2_nonzero", tiny) == pytest.approx(5 / 6)


def test_weighted_f1_conventions_by_hand(tiny):
    # non-negative: class F (support 3, tp 1, predicted 2) F1 = 2/5;
    #               class T (support 5, tp 4, predicted 6) F1 = 8/11
    assert value("f1_nonneg", tiny) == pytest.approx((3 * 2 / 5 + 5 * 8 / 11) / 8)
    # non-zero: class F (support 3, tp 2, predicted 2) F1 = 4/5;
    #           class T (support 3, tp 3, predicted 4) F1 = 6/7
    assert value("f1_nonzero", tiny) == pytest.approx((3 * 4 / 5 + 3 * 6 / 7) / 6)


def test_acc5_acc7_clip_and_round_half_to_even(tiny):
    # acc7: rounded targets -2 -0 0 0 2 3 2 -1 (2.5 -> 2), predictions -2 0 0 -0 0 2 2 0
    assert value("acc7", tiny) == pytest.approx(5 / 8)
    # acc5: clipped to [-2, 2]: targets -2 -0 0 0 2 2 2 -1, predictions -2 0 0 -0 0 2 2 0
    assert value("acc5", tiny) == pytest.approx(6 / 8)


def mmsa_reference(inputs: MetricInputs) -> dict[str, float]:
    """The formulas of MMSA's ``metricsTop.py`` (regression on MOSI / MOSEI) with sklearn."""
    y, p = inputs.target[:, 0], inputs.prediction[:, 0]
    nonzero = y != 0
    return {
        "acc2_nonneg": skm.accuracy_score(y >= 0, p >= 0),
        "f1_nonneg": skm.f1_score(y >= 0, p >= 0, average="weighted"),
        "acc2_nonzero": skm.accuracy_score(y[nonzero] > 0, p[nonzero] > 0),
        "f1_nonzero": skm.f1_score(y[nonzero] > 0, p[nonzero] > 0, average="weighted"),
        "acc7": np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(y, -3, 3))),
        "acc5": np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(y, -2, 2))),
    }


def test_conventions_match_the_mmsa_formulas(tiny, sentiment_inputs):
    assert (sentiment_inputs.target == 0).any(), "the fixture should contain neutral labels"
    for inputs in (tiny, sentiment_inputs):
        for name, reference in mmsa_reference(inputs).items():
            assert value(name, inputs) == pytest.approx(reference, abs=1e-12), name


def test_sentiment_needs_one_output():
    inputs = MetricInputs("regression", np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(MetricError, match="one sentiment score"):
        create_metric("acc2_nonneg").compute(inputs)
