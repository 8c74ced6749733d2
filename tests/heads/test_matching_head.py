"""Tests of the matching head (polymodal.heads.matching)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss

from polymodal.data.schema import TaskSpec
from polymodal.errors import DataError
from polymodal.registry import HEADS


def test_two_logit_head_is_cross_entropy_and_argmax() -> None:
    torch.manual_seed(0)
    head = HEADS.create("matching", in_dim=4, task=TaskSpec("multiclass", 5))  # task ignored
    logits = head(torch.randn(6, 4))
    assert logits.shape == (6, 2)
    target = torch.tensor([1, 0, 0, 1, 1, 0])
    loss = head.loss(logits, target)
    torch.testing.assert_close(loss, F.cross_entropy(logits, target))
    probs = logits.detach().double().softmax(-1).numpy()
    np.testing.assert_allclose(loss.item(), log_loss(target.numpy(), probs), rtol=1e-5)
    pred = head.predict(logits)
    assert torch.equal(pred.prediction, logits.argmax(-1))
    torch.testing.assert_close(pred.scores, logits.softmax(-1))


def test_single_logit_head_is_binary_cross_entropy() -> None:
    torch.manual_seed(0)
    head = HEADS.create("matching", in_dim=4, task=None, single_logit=True, hidden_dim=8)
    logits = head(torch.randn(6, 4))
    assert logits.shape == (6,)
    target = torch.tensor([1, 0, 0, 1, 1, 0])
    p = torch.sigmoid(logits.detach()).double().numpy()
    expected = -np.mean(np.where(target.numpy() == 1, np.log(p), np.log(1 - p)))
    np.testing.assert_allclose(head.loss(logits, target).item(), expected, rtol=1e-5)
    pred = head.predict(logits)
    assert torch.equal(pred.prediction, (torch.sigmoid(logits) > 0.5).long())
    torch.testing.assert_close(pred.scores[:, 1], torch.sigmoid(logits))
    torch.testing.assert_close(pred.scores.sum(1), torch.ones(6))
    assert torch.equal(pred.prediction, pred.scores.argmax(1))


def test_bad_labels_are_data_errors() -> None:
    head = HEADS.create("matching", in_dim=2, task=None)
    logits = head(torch.randn(3, 2))
    with pytest.raises(DataError, match="0 or 1"):
        head.loss(logits, torch.tensor([0, 2, 1]))
    with pytest.raises(DataError, match="one 0/1 match label per pair"):
        head.loss(logits, torch.tensor([0, 1]))
