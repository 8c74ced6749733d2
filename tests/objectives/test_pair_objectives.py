"""Registered pair objectives over two towers."""

from __future__ import annotations

import pytest
import torch

from polymodal.data.schema import Batch, ModalityBatch
from polymodal.errors import ConfigError
from polymodal.objectives.contrastive import info_nce_loss
from polymodal.objectives.pair import build_objective
from polymodal.registry import OBJECTIVES


class _Tower(torch.nn.Module):
    """Embeds modality m's tensor with a linear map (a stand-in for a preset tower)."""

    def __init__(self, modality, dim=4):
        super().__init__()
        self.modality = modality
        self.proj = torch.nn.Linear(3, dim)
        self.head = type("Head", (), {"embed_dim": dim})()

    def forward(self, batch):
        return self.proj(batch.inputs[self.modality].values)


def _batch(n=5):
    torch.manual_seed(0)
    inputs = {
        m: ModalityBatch(torch.randn(n, 3), torch.ones(n, dtype=torch.bool), None)
        for m in ("a", "b")
    }
    return Batch([f"s{i}" for i in range(n)], inputs)


def test_registry_lists_both_objectives():
    assert {"contrastive", "moco"} <= set(OBJECTIVES.names())


def test_contrastive_objective_is_clip_loss_of_the_towers():
    towers = {"a": _Tower("a"), "b": _Tower("b")}
    objective = build_objective("contrastive", towers, {"init_temperature": 0.1})
    batch = _batch()
    expected = info_nce_loss(towers["a"](batch), towers["b"](batch), 10.0)
    assert torch.allclose(objective.loss(batch), expected)
    embeddings = objective.embed(batch)
    assert torch.allclose(embeddings["a"].norm(dim=-1), torch.ones(5))


def test_moco_objective_state_holds_each_tower_once():
    objective = build_objective(
        "moco", {"a": _Tower("a"), "b": _Tower("b")}, {"queue_size": 8, "momentum": 0.5}
    )
    keys = list(objective.state_dict())
    assert sum(k.endswith("towers.a.proj.weight") for k in keys) == 2  # online + momentum
    assert objective.modalities == ["a", "b"]
    objective.train()
    objective.loss(_batch())
    assert int(objective.moco.queues["a"].filled) == 5


def test_unknown_parameter_and_wrong_tower_count_fail_clearly():
    with pytest.raises(TypeError):
        build_objective("contrastive", {"a": _Tower("a"), "b": _Tower("b")}, {"bogus": 1})
    with pytest.raises(ConfigError, match="exactly two towers"):
        build_objective("contrastive", {"a": _Tower("a")}, {})


def test_itm_adds_a_matching_loss_on_mined_negatives():
    from polymodal.objectives.matching import matching_pairs
    from polymodal.objectives.pair import interaction_pair

    towers = {"a": _Tower("a"), "b": _Tower("b")}
    plain = build_objective("contrastive", towers, {})
    with_itm = build_objective("contrastive", towers, {"itm_weight": 0.5, "itm_hidden_dim": 8})
    batch = _batch(6)
    torch.manual_seed(3)
    total = with_itm.loss(batch)
    # by hand: the same mined pairs (same RNG state), the head on [a, b, a*b], cross-entropy
    emb_a, emb_b = towers["a"](batch), towers["b"](batch)
    sim = (
        torch.nn.functional.normalize(emb_a, dim=-1)
        @ torch.nn.functional.normalize(emb_b, dim=-1).T
    )
    torch.manual_seed(3)
    pairs = matching_pairs(sim.detach())
    logits = with_itm.itm.head(interaction_pair(emb_a[pairs.index_a], emb_b[pairs.index_b]))
    itm = torch.nn.functional.cross_entropy(logits, pairs.label)
    assert torch.allclose(total, plain.loss(batch) + 0.5 * itm, atol=1e-6)
    total.backward()
    assert with_itm.itm.head.net[0].weight.grad is not None  # the matching head learns
    assert with_itm.match_logits(batch).shape == (6, 2)


def test_itm_weight_must_not_be_negative():
    with pytest.raises(ConfigError, match="itm_weight"):
        build_objective("contrastive", {"a": _Tower("a"), "b": _Tower("b")}, {"itm_weight": -1})
