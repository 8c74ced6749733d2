"""Graph fusion: permutation equivariance over modality nodes; absent nodes send nothing."""

from __future__ import annotations

import torch

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.graph import GraphFusion

TASK = TaskSpec("multiclass", 3)
DIMS = {"a": 2, "b": 3, "c": 4}
PRESENT = {
    "a": [True, True, False, True],
    "b": [True, True, True, False],
    "c": [True, False, True, False],
}


def make_features(seed: int = 0, fill_absent: float = 0.0) -> dict[str, Features]:
    gen = torch.Generator().manual_seed(seed)
    features = {}
    for m, d in DIMS.items():
        present = torch.tensor(PRESENT[m])
        z = torch.randn(4, d, generator=gen)
        z = torch.where(present[:, None], z, torch.full_like(z, fill_absent))
        features[m] = Features(z[:, None], z, torch.zeros(4, 1, dtype=torch.bool), present)
    return features


def test_permuting_modalities_permutes_nodes_and_keeps_output() -> None:
    torch.manual_seed(0)
    fusion = GraphFusion(DIMS, TASK, hidden_dim=8, rounds=2)
    permuted = GraphFusion({m: DIMS[m] for m in ["c", "a", "b"]}, TASK, hidden_dim=8, rounds=2)
    permuted.load_state_dict(fusion.state_dict())  # projections are keyed by modality name
    features = make_features()
    nodes, nodes_p = fusion.node_states(features), permuted.node_states(features)
    torch.testing.assert_close(nodes_p, nodes[:, [2, 0, 1]])
    torch.testing.assert_close(permuted(features), fusion(features))


def test_absent_node_sends_no_messages() -> None:
    torch.manual_seed(0)
    fusion = GraphFusion(DIMS, TASK, hidden_dim=8, rounds=2)
    features = make_features()
    out = fusion(features)
    torch.testing.assert_close(fusion(make_features(fill_absent=5.0)), out, rtol=0, atol=0)
    # sample 1 lacks c: it is fused exactly as by a graph over {a, b} with the same weights
    pair = GraphFusion({"a": 2, "b": 3}, TASK, hidden_dim=8, rounds=2)
    state = {k: v for k, v in fusion.state_dict().items() if not k.startswith("proj.c.")}
    pair.load_state_dict(state)
    torch.testing.assert_close(pair({m: features[m] for m in "ab"})[1], out[1])


def test_edge_weights_ignore_absent_senders() -> None:
    torch.manual_seed(0)
    fusion = GraphFusion(DIMS, TASK, hidden_dim=8, rounds=1)
    h = torch.randn(4, 3, 8)
    absent = ~torch.tensor([PRESENT[m] for m in "abc"]).T  # [B, M]
    weights = fusion.rounds[0].edge_weights(h, absent)  # [B, M, M]
    assert torch.all(weights.permute(0, 2, 1)[absent] == 0)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(4, 3))
