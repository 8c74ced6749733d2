"""Bilinear cross-modal attention: a hand computation with known weights; padded keys ignored."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from polymodal.data.schema import Features
from polymodal.errors import ConfigError
from polymodal.interaction.bilinear import BilinearInteraction
from polymodal.nn import masked_softmax

W_AB = np.array([[1.0, -1.0], [0.5, 2.0]])  # [D_a, D_b]
V_AB = np.array([[0.3, 0.0], [-0.2, 1.0]])  # [D_b, D_a]: values X_b @ V_AB
W_BA = np.array([[0.2, 0.4], [-1.0, 0.1]])
V_BA = np.array([[1.0, 2.0], [0.0, -1.0]])


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def known_layer() -> BilinearInteraction:
    layer = BilinearInteraction({"a": 2, "b": 2}).double()
    with torch.no_grad():
        for (q, k), (w, v) in {("a", "b"): (W_AB, V_AB), ("b", "a"): (W_BA, V_BA)}.items():
            layer.pairs[q][k].weight.copy_(torch.from_numpy(w))
            layer.pairs[q][k].value.weight.copy_(torch.from_numpy(v).T)  # Linear stores V^T
    return layer


def tiny_features() -> tuple[dict[str, Features], np.ndarray, np.ndarray]:
    xa = np.array([[[1.0, 2.0], [0.5, -1.0]]])  # [B=1, T_a=2, 2]
    xb = np.array([[[0.0, 1.0], [2.0, 1.0], [9.0, 9.0]]])  # [1, T_b=3, 2]; last is padding
    features = {
        "a": Features(
            torch.from_numpy(xa),
            torch.zeros(1, 2, dtype=torch.float64),
            torch.tensor([[False, False]]),
            torch.tensor([True]),
        ),
        "b": Features(
            torch.from_numpy(xb),
            torch.zeros(1, 2, dtype=torch.float64),
            torch.tensor([[False, False, True]]),
            torch.tensor([True]),
        ),
    }
    return features, xa[0], xb[0, :2]


def test_matches_hand_computation() -> None:
    features, xa, xb = tiny_features()
    with torch.no_grad():
        out = known_layer()(features)
    expected_a = np.stack([x + softmax(x @ W_AB @ xb.T / math.sqrt(2)) @ (xb @ V_AB) for x in xa])
    expected_b = np.stack([y + softmax(y @ W_BA @ xa.T / math.sqrt(2)) @ (xa @ V_BA) for y in xb])
    np.testing.assert_allclose(out["a"].tokens[0].numpy(), expected_a, rtol=1e-12)
    np.testing.assert_allclose(out["b"].tokens[0, :2].numpy(), expected_b, rtol=1e-12)
    assert torch.all(out["b"].tokens[0, 2] == 0)  # padding position returned as zeros
    np.testing.assert_allclose(out["a"].pooled[0].numpy(), expected_a.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["b"].pooled[0].numpy(), expected_b.mean(axis=0), rtol=1e-12)


def test_padded_keys_get_zero_weight() -> None:
    features, _, _ = tiny_features()
    layer = known_layer()
    pair = layer.pairs["a"]["b"]
    mask = features["b"].padding_mask
    weights = pair.weights(features["a"].tokens, features["b"].tokens, mask)  # [1, 2, 3]
    assert torch.all(weights[..., 2] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, dtype=torch.float64))


def test_absent_source_adds_nothing() -> None:
    features, xa, _ = tiny_features()
    fb = features["b"]
    features["b"] = Features(fb.tokens, fb.pooled, fb.padding_mask, torch.tensor([False]))
    with torch.no_grad():
        out = known_layer()(features)
    np.testing.assert_allclose(out["a"].tokens[0].numpy(), xa)  # only the residual path
    assert torch.all(out["b"].tokens == 0)


def test_masked_softmax_all_masked_row_is_zero_not_nan() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    mask = torch.tensor([[False, True, False], [True, True, True]])
    weights = masked_softmax(scores, mask)
    expected_row = torch.softmax(torch.tensor([1.0, 3.0]), 0)
    torch.testing.assert_close(
        weights[0], torch.stack([expected_row[0], torch.tensor(0.0), expected_row[1]])
    )
    assert torch.all(weights[1] == 0)
    weights.sum().backward()
    assert torch.isfinite(scores.grad).all()


def test_needs_two_modalities() -> None:
    with pytest.raises(ConfigError, match="at least two modalities"):
        BilinearInteraction({"a": 2})
