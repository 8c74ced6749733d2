"""Gated fusion (GMU): gates sum to 1 over present modalities and are 0 for absent ones."""

from __future__ import annotations

import torch

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.gated import GatedFusion

TASK = TaskSpec("multiclass", 3)
PRESENT = {
    "a": [True, False, True, True, False],
    "b": [True, True, False, True, False],
    "c": [False, True, True, True, False],
}  # the last sample has no modality


def make(dims: dict[str, int], seed: int = 0) -> tuple[GatedFusion, dict[str, Features]]:
    torch.manual_seed(seed)
    fusion = GatedFusion(dims, TASK, hidden_dim=6)
    features = {}
    for m, d in dims.items():
        present = torch.tensor(PRESENT[m])
        z = torch.randn(5, d) * present[:, None]
        features[m] = Features(z[:, None], z, torch.zeros(5, 1, dtype=torch.bool), present)
    return fusion, features


def test_gates_sum_to_one_and_absent_gates_are_zero() -> None:
    fusion, features = make({"a": 2, "b": 3, "c": 4})
    gates = fusion.gates(features)  # [B, M, H]
    present = torch.tensor([PRESENT[m] for m in "abc"]).T  # [B, M]
    assert torch.all(gates[~present] == 0)
    torch.testing.assert_close(gates[:4].sum(dim=1), torch.ones(4, 6))
    assert torch.all(gates[4] == 0)
    assert torch.all(fusion(features)[4] == 0)


def test_output_is_gated_sum_by_hand() -> None:
    fusion, features = make({"a": 2, "b": 3, "c": 4})
    gates = fusion.gates(features)
    expected = torch.zeros(5, 6)
    for i, m in enumerate("abc"):
        h = torch.tanh(features[m].pooled @ fusion.value[m].weight.T + fusion.value[m].bias)
        expected += gates[:, i] * h * features[m].present[:, None]
    torch.testing.assert_close(fusion(features), expected)


def test_two_modalities_match_sigmoid_form() -> None:
    fusion, features = make({"a": 2, "b": 3})
    logits = fusion.gate(torch.cat([features["a"].pooled, features["b"].pooled], dim=1))
    logits = logits.reshape(5, 2, 6)
    both = torch.tensor(PRESENT["a"]) & torch.tensor(PRESENT["b"])
    gate_a = torch.sigmoid(logits[:, 0] - logits[:, 1])  # the paper's z, for modality a
    torch.testing.assert_close(fusion.gates(features)[both, 0], gate_a[both])


def test_absent_values_do_not_change_gates() -> None:
    fusion, features = make({"a": 2, "b": 3, "c": 4})
    f = features["a"]
    noisy = torch.where(f.present[:, None], f.pooled, torch.full_like(f.pooled, 7.0))
    changed = dict(features, a=Features(noisy[:, None], noisy, f.padding_mask, f.present))
    assert torch.equal(fusion.gates(changed), fusion.gates(features))
