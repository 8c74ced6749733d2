"""Named conventions equal the library they name, on tied scores and absent classes (issue 12.1)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, top_k_accuracy_score
from sklearn.preprocessing import label_binarize
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_auroc,
    multiclass_average_precision,
)

from polymodal.evaluate.metrics import MetricError, MetricInputs, MetricWarning, create_metric


def tied_inputs(seed: int = 0, n: int = 200, c: int = 8) -> MetricInputs:
    """Scores on a coarse grid (many exact ties, also with the target's score)."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, (n, c)).astype(np.float64) / 4.0
    target = rng.integers(0, c, n)
    return MetricInputs("multiclass", target, scores.argmax(axis=1), scores)


def absent_inputs(seed: int = 1, n: int = 40, c: int = 4) -> MetricInputs:
    """Class c - 1 never occurs in the target."""
    rng = np.random.default_rng(seed)
    scores = rng.dirichlet(np.ones(c), n)
    target = rng.integers(0, c - 1, n)
    return MetricInputs("multiclass", target, scores.argmax(axis=1), scores)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_default_ties_equal_scikit_learn(k):
    inputs = tied_inputs()
    expected = top_k_accuracy_score(
        inputs.target, inputs.scores, k=k, labels=np.arange(inputs.num_classes)
    )
    assert create_metric(f"top_k_accuracy:k={k}").compute(inputs) == pytest.approx(expected)
    if k == 5:
        assert create_metric("top5_accuracy").compute(inputs) == pytest.approx(expected)


def test_top_k_optimistic_and_pessimistic_bracket_the_tie_rule_by_hand():
    scores = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.1, 0.1, 0.8]])
    inputs = MetricInputs("multiclass", [0, 2, 0], [0, 1, 2], scores)

    def top1(ties: str) -> float:
        return float(create_metric(f"top_k_accuracy:k=1,ties={ties}").compute(inputs))

    # row 0: target 0 tied with class 1; row 1: target 2 tied with class 1; row 2: a miss
    assert top1("optimistic") == pytest.approx(2 / 3)
    assert top1("pessimistic") == pytest.approx(0.0)
    assert top1("sklearn") == pytest.approx(1 / 3)  # a higher class id ranks first on a tie
    assert top1("sklearn") == pytest.approx(
        top_k_accuracy_score([0, 2, 0], scores, k=1, labels=range(3))
    )


def test_top_k_with_k_at_least_classes_warns():
    inputs = tied_inputs(c=4)
    with pytest.warns(MetricWarning, match="k=4 >= 4 classes"):
        assert create_metric("top_k_accuracy:k=4").compute(inputs) == 1.0
    with pytest.raises(MetricError, match="ties"):
        create_metric("top_k_accuracy:ties=lucky")


def test_top1_sklearn_ties_agree_with_torchmetrics_on_distinct_scores():
    inputs = absent_inputs(n=100)  # continuous scores: no ties, every convention agrees
    expected = multiclass_accuracy(
        torch.tensor(inputs.scores), torch.tensor(inputs.target), 4, top_k=2, average="micro"
    )
    for ties in ("sklearn", "optimistic", "pessimistic"):
        value = create_metric(f"top_k_accuracy:k=2,ties={ties}").compute(inputs)
        assert value == pytest.approx(float(expected))


def test_auroc_absent_class_default_is_nan_as_scikit_learn():
    inputs = absent_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = roc_auc_score(inputs.target, inputs.scores, multi_class="ovr", labels=range(4))
    assert np.isnan(expected)
    metric = create_metric("auroc")
    assert np.isnan(metric.compute(inputs))
    assert "class(es) [3] have no positives" in metric.why_undefined(inputs)


def test_auroc_absent_class_zero_equals_torchmetrics():
    inputs = absent_inputs()
    expected = multiclass_auroc(torch.tensor(inputs.scores), torch.tensor(inputs.target), 4)
    value = create_metric("auroc:absent_class=zero").compute(inputs)
    assert value == pytest.approx(float(expected), abs=1e-6)


def test_auroc_absent_class_drop_warns_and_averages_the_present_classes():
    inputs = absent_inputs()
    onehot = label_binarize(inputs.target, classes=range(3))
    expected = roc_auc_score(onehot, inputs.scores[:, :3], average="macro")
    with pytest.warns(MetricWarning, match=r"class\(es\) \[3\].*left out"):
        value = create_metric("auroc:absent_class=drop").compute(inputs)
    assert value == pytest.approx(expected)


def test_auprc_absent_class_default_is_zero_as_scikit_learn():
    inputs = absent_inputs()
    onehot = label_binarize(inputs.target, classes=range(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = average_precision_score(onehot, inputs.scores, average="macro")
    assert create_metric("auprc").compute(inputs) == pytest.approx(expected)


def test_auprc_absent_class_drop_equals_torchmetrics():
    inputs = absent_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = multiclass_average_precision(
            torch.tensor(inputs.scores), torch.tensor(inputs.target), 4
        )
        value = create_metric("auprc:absent_class=drop").compute(inputs)
    assert value == pytest.approx(float(expected), abs=1e-6)
    with pytest.raises(MetricError, match="absent_class"):
        create_metric("auprc:absent_class=skip")


def test_ranking_conventions_agree_when_every_class_is_present(multiclass_inputs):
    values = {
        rule: create_metric(f"auroc:absent_class={rule}").compute(multiclass_inputs)
        for rule in ("drop", "zero", "nan")
    }
    assert len(set(values.values())) == 1
    expected = roc_auc_score(multiclass_inputs.target, multiclass_inputs.scores, multi_class="ovr")
    assert values["nan"] == pytest.approx(expected)
