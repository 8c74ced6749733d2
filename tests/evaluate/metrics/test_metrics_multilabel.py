"""Multi-label metrics against scikit-learn on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from polymodal.evaluate.metrics import MetricInputs, MetricWarning, create_metric


def value(name: str, inputs: MetricInputs) -> float:
    return float(create_metric(name).compute(inputs))


@pytest.mark.parametrize("stat", ["precision", "recall", "f1"])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
def test_prf_against_sklearn(make_inputs, stat, average):
    inputs = make_inputs("multilabel", 3, n=80, labels=5)
    # a label never true and never predicted counts as 0 in the macro mean, as in sklearn
    inputs = MetricInputs(
        "multilabel",
        np.c_[inputs.target, np.zeros(80)],
        np.c_[inputs.prediction, np.zeros(80)],
        np.c_[inputs.scores, np.full(80, 0.1)],
    )
    y, p = inputs.target.astype(int), inputs.prediction.astype(int)
    reference = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
    expected = reference[stat](y, p, average=average, zero_division=0)
    assert value(f"{stat}_{average}", inputs) == pytest.approx(expected, abs=1e-12)


def test_map_subset_accuracy_hamming(make_inputs):
    inputs = make_inputs("multilabel", 4, n=100, labels=6)
    y, p = inputs.target.astype(int), inputs.prediction.astype(int)
    expected = skm.average_precision_score(y, inputs.scores, average="macro")
    assert value("map", inputs) == pytest.approx(expected, abs=1e-12)
    assert value("subset_accuracy", inputs) == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert value("hamming_loss", inputs) == pytest.approx(skm.hamming_loss(y, p), abs=1e-12)
    expected = skm.roc_auc_score(y, inputs.scores, average="macro")
    assert value("auroc", inputs) == pytest.approx(expected, abs=1e-12)


def test_map_leaves_out_labels_without_positives(make_inputs):
    inputs = make_inputs("multilabel", 5, n=50, labels=3)
    padded = MetricInputs(
        "multilabel",
        np.c_[inputs.target, np.zeros(50)],
        np.c_[inputs.prediction, np.zeros(50)],
        np.c_[inputs.scores, np.linspace(0, 1, 50)],
    )
    with pytest.warns(MetricWarning, match=r"class\(es\) \[3\] have no positives"):
        dropped = value("map", padded)
    assert dropped == pytest.approx(value("map", inputs), abs=1e-12)
