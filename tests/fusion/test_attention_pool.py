"""Attention pooling fusion: absent modalities get weight exactly 0, weights sum to 1."""

from __future__ import annotations

import math

import torch

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.attention_pool import AttentionPoolFusion

TASK = TaskSpec("multiclass", 3)
PRESENT = {
    "a": [True, False, True, True],
    "b": [True, True, False, False],
    "c": [False, True, True, False],
}  # sample 3 has only modality a


def make(heads: int) -> tuple[AttentionPoolFusion, dict[str, Features]]:
    torch.manual_seed(0)
    dims = {"a": 2, "b": 3, "c": 4}
    fusion = AttentionPoolFusion(dims, TASK, hidden_dim=8, heads=heads)
    features = {}
    for m, d in dims.items():
        present = torch.tensor(PRESENT[m])
        z = torch.randn(4, d) * present[:, None]
        features[m] = Features(z[:, None], z, torch.zeros(4, 1, dtype=torch.bool), present)
    return fusion, features


def test_weights_of_absent_modalities_are_zero_and_sum_to_one() -> None:
    fusion, features = make(heads=2)
    weights = fusion.attention_weights(features)  # [B, heads, M]
    present = torch.tensor([PRESENT[m] for m in "abc"]).T  # [B, M]
    assert torch.all(weights.permute(0, 2, 1)[~present] == 0)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(4, 2))


def test_output_by_hand() -> None:
    fusion, features = make(heads=1)
    nodes = torch.stack([fusion.proj[m](features[m].pooled) for m in "abc"], dim=1)  # [B, M, H]
    scores = fusion.key(nodes) @ fusion.query[0] / math.sqrt(8)  # [B, M]
    present = torch.tensor([PRESENT[m] for m in "abc"]).T
    weights = torch.softmax(scores.masked_fill(~present, float("-inf")), dim=1)
    expected = (weights[..., None] * fusion.value(nodes)).sum(dim=1)
    out = fusion(features)
    torch.testing.assert_close(out, expected)
    # a sample with one modality gets exactly that modality's value vector
    torch.testing.assert_close(out[3], fusion.value(nodes[3, 0]))
