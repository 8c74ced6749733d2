"""Tests of the symmetric InfoNCE objective (polymodal.objectives.contrastive)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import ConfigError, DataError
from polymodal.objectives.contrastive import ContrastiveLoss, LearnedTemperature, info_nce_loss


def _pair(b: int = 5, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=gen, dtype=torch.float64), torch.randn(
        b, d, generator=gen, dtype=torch.float64
    )


def _numpy_info_nce(a: np.ndarray, b: np.ndarray, scale: float, pos: np.ndarray) -> float:
    """Hand computation: mean over rows with a positive of -mean_{j in P_i} log softmax_ij."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = scale * a @ b.T

    def one_side(lg: np.ndarray, p: np.ndarray) -> float:
        logp = lg - np.log(np.exp(lg).sum(axis=1, keepdims=True))
        rows = [-(logp[i][p[i]]).mean() for i in range(len(lg)) if p[i].any()]
        return float(np.mean(rows))

    return (one_side(logits, pos) + one_side(logits.T, pos.T)) / 2


def test_equals_clip_cross_entropy() -> None:
    a, b = _pair()
    loss = info_nce_loss(a, b, 2.5)
    logits = 2.5 * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    labels = torch.arange(5)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(loss, expected)
    np.testing.assert_allclose(
        loss.item(), _numpy_info_nce(a.numpy(), b.numpy(), 2.5, np.eye(5, dtype=bool)), rtol=1e-12
    )


def test_several_positives_per_query_match_a_hand_computation() -> None:
    a, b = _pair(4)
    pos = torch.eye(4, dtype=torch.bool)
    pos[0, 1] = pos[2, 0] = pos[2, 3] = True  # a_0 ~ b_1; a_2 ~ b_0, b_3 (not symmetric)
    loss = info_nce_loss(a, b, 3.0, positives=pos)
    expected = _numpy_info_nce(a.numpy(), b.numpy(), 3.0, pos.numpy())
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    assert not math.isclose(loss.item(), info_nce_loss(a, b, 3.0).item(), rel_tol=1e-3)


def test_invariant_to_scaling_the_embeddings() -> None:
    a, b = _pair()
    torch.testing.assert_close(info_nce_loss(a * 7.0, b * 0.01, 4.0), info_nce_loss(a, b, 4.0))


def test_absent_pairs_are_excluded() -> None:
    a, b = _pair(6)
    present_a = torch.tensor([True, False, True, True, True, True])
    present_b = torch.tensor([True, True, True, False, True, True])
    keep = present_a & present_b
    loss = info_nce_loss(a, b, 2.0, present_a=present_a, present_b=present_b)
    torch.testing.assert_close(loss, info_nce_loss(a[keep], b[keep], 2.0))
    a2, b2 = a.clone(), b.clone()
    a2[1] = 100.0  # absent rows' values never matter, as queries or candidates
    b2[1] = -3.0
    b2[3] = 5.0
    torch.testing.assert_close(
        info_nce_loss(a2, b2, 2.0, present_a=present_a, present_b=present_b), loss
    )


def test_no_valid_pair_gives_zero_loss_with_a_graph() -> None:
    a, b = _pair(3)
    a.requires_grad_(True)
    loss = info_nce_loss(a, b, 2.0, present_a=torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(a.grad, torch.zeros_like(a))


def test_learned_temperature_gets_gradient_and_starts_at_clip_value() -> None:
    objective = ContrastiveLoss()
    assert objective.temperature.temperature == pytest.approx(0.07)
    a, b = _pair()
    loss = objective(a.float(), b.float())
    loss.backward()
    grad = objective.temperature.log_scale.grad
    assert grad is not None
    assert grad.abs().item() > 0
    # d loss / d log s = s * d loss / d s, with d loss / d s from the logits' dependence on s
    s = torch.tensor(1 / 0.07, dtype=torch.float64, requires_grad=True)
    info_nce_loss(a, b, s).backward()
    torch.testing.assert_close(grad.double(), s.grad * (1 / 0.07), rtol=1e-4, atol=1e-6)


def test_logit_scale_is_clamped_at_the_maximum() -> None:
    temp = LearnedTemperature(0.07, max_logit_scale=100.0)
    with torch.no_grad():
        temp.log_scale.fill_(math.log(500.0))
    scale = temp()
    torch.testing.assert_close(scale, torch.tensor(100.0))
    scale.backward()
    assert temp.log_scale.grad.item() == 0.0  # clamped: no gradient, as with CLIP's clipping
    fixed = LearnedTemperature(0.5, learn=False)
    assert not any(True for _ in fixed.parameters())
    assert fixed().item() == pytest.approx(2.0)


def test_bad_arguments_raise_clear_errors() -> None:
    a, b = _pair(3)
    with pytest.raises(DataError, match="same embed_dim"):
        info_nce_loss(a, b[:, :2], 1.0)
    with pytest.raises(DataError, match="positive mask"):
        info_nce_loss(a, b, 1.0, positives=torch.eye(2, dtype=torch.bool))
    with pytest.raises(ConfigError):
        LearnedTemperature(0.001, max_logit_scale=100.0)
