"""Tests of the classification, multilabel and regression heads (polymodal.heads.*)."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss
from torch import nn

from polymodal.data.schema import TaskSpec
from polymodal.errors import ConfigError, DataError
from polymodal.registry import HEADS

MULTICLASS = TaskSpec("multiclass", 4)
MULTILABEL = TaskSpec("multilabel", 3)
REGRESSION = TaskSpec("regression", 2)


def _linears(head: nn.Module) -> list[nn.Linear]:
    return [m for m in head.modules() if isinstance(m, nn.Linear)]


def test_classification_forward_loss_predict() -> None:
    torch.manual_seed(0)
    head = HEADS.create("classification", in_dim=6, task=MULTICLASS)
    assert [lin.out_features for lin in _linears(head)] == [128, 4]  # hidden layer by default
    logits = head(torch.randn(5, 6))
    assert logits.shape == (5, 4)
    target = torch.tensor([0, 3, 1, 2, 3])
    loss = head.loss(logits, target)
    torch.testing.assert_close(loss, F.cross_entropy(logits, target))
    probs = logits.detach().double().softmax(-1).numpy()
    np.testing.assert_allclose(
        loss.item(), log_loss(target.numpy(), probs, labels=[0, 1, 2, 3]), rtol=1e-5
    )
    pred = head.predict(logits)
    assert torch.equal(pred.prediction, logits.argmax(-1))
    torch.testing.assert_close(pred.scores, torch.softmax(logits, dim=-1))


def test_classification_linear_and_label_smoothing() -> None:
    head = HEADS.create(
        "classification", in_dim=6, task=MULTICLASS, hidden_dim=None, label_smoothing=0.1
    )
    assert len(_linears(head)) == 1
    logits, target = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    torch.testing.assert_close(
        head.loss(logits, target), F.cross_entropy(logits, target, label_smoothing=0.1)
    )


def test_multilabel_forward_loss_predict() -> None:
    torch.manual_seed(0)
    head = HEADS.create("multilabel", in_dim=6, task=MULTILABEL)
    logits = head(torch.randn(4, 6))
    assert logits.shape == (4, 3)
    target = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.float32)
    torch.testing.assert_close(
        head.loss(logits, target), F.binary_cross_entropy_with_logits(logits, target)
    )
    edge = torch.tensor([[-0.01, 0.0, 0.01]])  # sigmoid(0) = 0.5 counts as predicted
    pred = head.predict(edge)
    assert pred.prediction.tolist() == [[0.0, 1.0, 1.0]]
    torch.testing.assert_close(pred.scores, torch.sigmoid(edge))


@pytest.mark.parametrize(("kind", "reference"), [("mse", F.mse_loss), ("l1", F.l1_loss)])
def test_regression_losses(kind: str, reference) -> None:
    head = HEADS.create("regression", in_dim=6, task=REGRESSION, loss=kind)
    out = head(torch.randn(3, 6))
    assert out.shape == (3, 2)
    target = torch.randn(3, 2)
    torch.testing.assert_close(head.loss(out, target), reference(out, target))
    pred = head.predict(out)
    assert torch.equal(pred.prediction, out)
    assert torch.equal(pred.scores, out)


def test_regression_single_target_does_not_broadcast() -> None:
    head = HEADS.create("regression", in_dim=2, task=TaskSpec("regression", 1))
    out, target = torch.randn(4, 1), torch.randn(4)
    torch.testing.assert_close(head.loss(out, target), F.mse_loss(out[:, 0], target))
    with pytest.raises(DataError, match="shape"):
        head.loss(out, torch.randn(4, 2))


def test_target_shape_errors() -> None:
    clf = HEADS.create("classification", in_dim=2, task=MULTICLASS)
    with pytest.raises(DataError, match="class index"):
        clf.loss(torch.randn(3, 4), torch.zeros(3, 4))
    ml = HEADS.create("multilabel", in_dim=2, task=MULTILABEL)
    with pytest.raises(DataError, match="shape"):
        ml.loss(torch.randn(3, 3), torch.zeros(3))


@pytest.mark.parametrize(
    ("name", "task"),
    [("classification", REGRESSION), ("multilabel", MULTICLASS), ("regression", MULTILABEL)],
)
def test_head_on_wrong_task_raises(name: str, task: TaskSpec) -> None:
    with pytest.raises(ConfigError, match=task.type):
        HEADS.create(name, in_dim=4, task=task)


def test_params_are_validated_from_type_hints() -> None:
    model = HEADS.params_model("regression")
    assert model.model_validate({"loss": "l1", "hidden_dim": None}).loss == "l1"
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({"loss": "huber"})
    with pytest.raises(pydantic.ValidationError):
        HEADS.params_model("classification").model_validate({"hidden": 3})
