"""Classification metrics against scikit-learn on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from polymodal.evaluate.metrics import MetricInputs, create_metric


def value(name: str, inputs: MetricInputs):
    return create_metric(name).compute(inputs)


@pytest.fixture
def uneven() -> MetricInputs:
    """6 classes: 4 is predicted but never a target, 2 a target never predicted, 5 neither."""
    rng = np.random.default_rng(7)
    n = 90
    target = rng.choice([0, 1, 2, 3], n, p=[0.4, 0.3, 0.2, 0.1])
    prediction = np.where(rng.random(n) < 0.6, target, rng.choice([0, 1, 3, 4], n))
    prediction[prediction == 2] = 0
    scores = rng.dirichlet(np.ones(6), n)
    return MetricInputs("multiclass", target, prediction, scores)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_accuracy_and_balanced_accuracy(multiclass_inputs, uneven):
    for inputs in (multiclass_inputs, uneven):
        y, p = inputs.target, inputs.prediction
        assert value("accuracy", inputs) == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
        expected = skm.balanced_accuracy_score(y, p)
        assert value("balanced_accuracy", inputs) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("stat", ["precision", "recall", "f1"])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_precision_recall_f1_averages(multiclass_inputs, uneven, stat, average):
    position = {"precision": 0, "recall": 1, "f1": 2}[stat]
    for inputs in (multiclass_inputs, uneven):
        expected = skm.precision_recall_fscore_support(
            inputs.target, inputs.prediction, average=average, zero_division=0
        )[position]
        assert value(f"{stat}_{average}", inputs) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("stat", ["precision", "recall", "f1"])
def test_per_class_dict(uneven, stat):
    position = {"precision": 0, "recall": 1, "f1": 2}[stat]
    expected = skm.precision_recall_fscore_support(
        uneven.target, uneven.prediction, labels=range(6), average=None, zero_division=0
    )[position]
    got = value(f"{stat}_per_class", uneven)
    assert list(got) == ["0", "1", "2", "3", "4", "5"]
    np.testing.assert_allclose(list(got.values()), expected, atol=1e-12)


def test_macro_uses_classes_present_in_target_or_prediction(uneven):
    # class 2 is a target but never predicted: its F1 is 0 and it counts in the mean
    per_class = value("f1_per_class", uneven)
    present = [c for c in range(6) if np.any(uneven.target == c) | np.any(uneven.prediction == c)]
    assert value("f1_macro", uneven) == pytest.approx(
        np.mean([per_class[str(c)] for c in present]), abs=1e-12
    )


def test_top5_accuracy_and_confusion_matrix(make_inputs):
    inputs = make_inputs("multiclass", 4, n=80, c=8)
    expected = skm.top_k_accuracy_score(inputs.target, inputs.scores, k=5, labels=range(8))
    assert value("top5_accuracy", inputs) == pytest.approx(expected, abs=1e-12)
    expected_matrix = skm.confusion_matrix(inputs.target, inputs.prediction, labels=range(8))
    assert value("confusion_matrix", inputs) == expected_matrix.tolist()


def test_auroc_and_auprc_multiclass(make_inputs):
    inputs = make_inputs("multiclass", 5, n=120, c=5)
    expected = skm.roc_auc_score(inputs.target, inputs.scores, multi_class="ovr")
    assert value("auroc", inputs) == pytest.approx(expected, abs=1e-12)
    onehot = label_binarize(inputs.target, classes=range(5))
    expected = skm.average_precision_score(onehot, inputs.scores, average="macro")
    assert value("auprc", inputs) == pytest.approx(expected, abs=1e-12)


def test_auroc_and_auprc_binary_with_ties():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 2, 200)
    positive = np.round(np.clip(0.5 + 0.3 * (target - 0.5) + rng.normal(0, 0.25, 200), 0, 1), 1)
    scores = np.stack([1 - positive, positive], axis=1)  # many exact ties
    inputs = MetricInputs("multiclass", target, (positive >= 0.5).astype(int), scores)
    expected = skm.roc_auc_score(target, positive)
    assert value("auroc", inputs) == pytest.approx(expected, abs=1e-12)
    expected = skm.average_precision_score(target, positive)
    assert value("auprc", inputs) == pytest.approx(expected, abs=1e-12)


def test_auroc_by_hand():
    # positives score 0.8, 0.4; negatives 0.4, 0.1: pairs won 1 + 1 + 0.5 (tie) + 1 of 4
    scores = np.array([0.8, 0.4, 0.4, 0.1])
    inputs = MetricInputs(
        "multiclass", [1, 1, 0, 0], [1, 0, 0, 0], np.stack([1 - scores, scores], axis=1)
    )
    assert value("auroc", inputs) == pytest.approx(3.5 / 4)
    # thresholds 0.8 (P=1, R=1/2), 0.4 (P=2/3, R=1): AP = 1/2 * 1 + 1/2 * 2/3
    assert value("auprc", inputs) == pytest.approx(0.5 + 1 / 3)


def test_resampled_auroc_is_vectorised_and_exact(make_inputs):
    inputs = make_inputs("multiclass", 6, n=300, c=3)
    indices = np.random.default_rng(0).integers(0, 300, (40, 300))
    metric = create_metric("auroc")
    expected = [
        skm.roc_auc_score(inputs.target[row], inputs.scores[row], multi_class="ovr")
        for row in indices
    ]
    np.testing.assert_allclose(metric.compute_resampled(inputs, indices), expected, atol=1e-12)
