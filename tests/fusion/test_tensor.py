"""Tensor fusion (TFN): the fused tensor holds unimodal vectors and all products as sub-blocks."""

from __future__ import annotations

import pytest
import torch

from polymodal.data.schema import Features, TaskSpec
from polymodal.errors import ConfigError
from polymodal.fusion.tensor import TensorFusion, outer_product

TASK = TaskSpec("multiclass", 3)


def pooled_features(vectors: dict[str, list[list[float]]], present: dict[str, list[bool]]):
    out = {}
    for name, rows in vectors.items():
        pooled = torch.tensor(rows)
        b = pooled.shape[0]
        out[name] = Features(
            pooled[:, None, :],
            pooled,
            torch.zeros(b, 1, dtype=torch.bool),
            torch.tensor(present[name]),
        )
    return out


def identity_projections(fusion: TensorFusion) -> None:
    """Make every projection the identity, so ``h_m = z_m`` and values can be checked by hand."""
    with torch.no_grad():
        for proj in fusion.proj.values():
            proj.weight.copy_(torch.eye(proj.weight.shape[0], proj.weight.shape[1]))
            proj.bias.zero_()


def test_outer_product_row_major() -> None:
    u, v = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0, 5.0]])
    expected = torch.tensor([[3.0, 4.0, 5.0, 6.0, 8.0, 10.0]])  # u_i * v_j at i * 3 + j
    assert torch.equal(outer_product([u, v]), expected)


def test_two_modalities_blocks_by_hand() -> None:
    fusion = TensorFusion({"a": 2, "b": 2}, TASK, proj_dim=2)
    identity_projections(fusion)
    features = pooled_features({"a": [[2.0, 3.0]], "b": [[5.0, 7.0]]}, {"a": [True], "b": [True]})
    fused = fusion.fusion_tensor(features).reshape(3, 3)  # [a_0, a_1, 1] x [b_0, b_1, 1]
    expected = torch.tensor(
        [
            [10.0, 14.0, 2.0],  # a_0 * b, a_0
            [15.0, 21.0, 3.0],  # a_1 * b, a_1
            [5.0, 7.0, 1.0],  # b, 1
        ]
    )
    assert torch.equal(fused, expected)


def test_three_modalities_sub_blocks_and_dimension() -> None:
    fusion = TensorFusion({"a": 2, "b": 3, "c": 1}, TASK, proj_dim=2, hidden_dim=4)
    assert fusion.tensor_dim == 3 * 3 * 3
    assert fusion.out[0].in_features == 27
    identity_projections(fusion)  # c has width 1: h_c = [z_c, 0]
    features = pooled_features(
        {"a": [[2.0, 3.0]], "b": [[5.0, 7.0, 100.0]], "c": [[11.0]]},
        {"a": [True], "b": [True], "c": [True]},
    )
    t = fusion.fusion_tensor(features).reshape(3, 3, 3)
    a, b, c = torch.tensor([2.0, 3.0]), torch.tensor([5.0, 7.0]), torch.tensor([11.0, 0.0])
    assert t[2, 2, 2] == 1.0
    assert torch.equal(t[:2, 2, 2], a)
    assert torch.equal(t[2, :2, 2], b)
    assert torch.equal(t[2, 2, :2], c)
    assert torch.equal(t[:2, :2, 2], torch.outer(a, b))  # pairwise products
    assert torch.equal(t[:2, 2, :2], torch.outer(a, c))
    assert torch.equal(t[2, :2, :2], torch.outer(b, c))
    assert torch.equal(t[:2, :2, :2], torch.einsum("i,j,k->ijk", a, b, c))  # trimodal
    out = fusion(features)  # the linear layer + ReLU on the flattened tensor
    layer = fusion.out[0]
    torch.testing.assert_close(out, torch.relu(layer(t.reshape(1, 27))))


def test_absent_modality_contributes_no_data() -> None:
    fusion = TensorFusion({"a": 2, "b": 2}, TASK, proj_dim=2)
    identity_projections(fusion)
    features = pooled_features({"a": [[2.0, 3.0]], "b": [[5.0, 7.0]]}, {"a": [True], "b": [False]})
    fused = fusion.fusion_tensor(features).reshape(3, 3)
    expected = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, 1.0]])  # [a; 1] x [0; 1]
    assert torch.equal(fused, expected)


def test_too_large_tensor_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="lowrank"):
        TensorFusion({f"m{i}": 2 for i in range(6)}, TASK, proj_dim=16)


def test_norm_standardises_each_projected_vector_before_the_outer_product() -> None:
    fusion = TensorFusion({"a": 3, "b": 3}, TASK, proj_dim=3, norm=True)
    identity_projections(fusion)  # LayerNorm starts with scale 1, shift 0
    features = pooled_features(
        {"a": [[1.0, 2.0, 3.0]], "b": [[10.0, 10.0, 40.0]]}, {"a": [True], "b": [True]}
    )
    a = torch.tensor([-1.0, 0.0, 1.0]) / (2.0 / 3.0) ** 0.5  # (x - mean) / biased std
    b = torch.tensor([-1.0, -1.0, 2.0]) / 2.0**0.5
    t = fusion.fusion_tensor(features).reshape(4, 4)
    torch.testing.assert_close(t[:3, 3], a, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(t[3, :3], b, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(t[:3, :3], torch.outer(a, b), atol=1e-4, rtol=1e-4)


def test_norm_keeps_an_absent_modality_at_zero() -> None:
    fusion = TensorFusion({"a": 2, "b": 2}, TASK, proj_dim=2, norm=True)
    features = pooled_features({"a": [[2.0, 3.0]], "b": [[5.0, 7.0]]}, {"a": [True], "b": [False]})
    fused = fusion.fusion_tensor(features).reshape(3, 3)
    assert torch.equal(fused[:, :2], torch.zeros(3, 2))  # LayerNorm's shift does not leak in
    assert fused[2, 2] == 1.0


def test_tensor_dropout_acts_on_the_fusion_tensor_in_training_only() -> None:
    fusion = TensorFusion({"a": 2, "b": 2}, TASK, proj_dim=2, hidden_dim=4, tensor_dropout=0.5)
    features = pooled_features({"a": [[2.0, 3.0]], "b": [[5.0, 7.0]]}, {"a": [True], "b": [True]})
    fusion.eval()
    t = fusion.fusion_tensor(features)
    torch.testing.assert_close(fusion(features), fusion.out(t))  # identity at evaluation
    fusion.train()
    torch.manual_seed(0)
    mask = torch.nn.functional.dropout(torch.ones_like(t), 0.5)  # the same draw, as a mask
    torch.manual_seed(0)
    torch.testing.assert_close(fusion(features), fusion.out(t * mask))
