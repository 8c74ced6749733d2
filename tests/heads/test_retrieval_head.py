"""Tests of the retrieval head (polymodal.heads.retrieval)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from polymodal.data.schema import TaskSpec
from polymodal.errors import ConfigError, PolymodalError
from polymodal.registry import HEADS


def test_embeddings_are_the_normalised_linear_projection() -> None:
    torch.manual_seed(0)
    head = HEADS.create("retrieval", in_dim=6, task=None, embed_dim=4)
    head.eval()
    x = torch.randn(5, 6)
    out = head(x)
    lin = head.net[1]
    projected = x @ lin.weight.T + lin.bias
    torch.testing.assert_close(out, projected / projected.norm(dim=1, keepdim=True))
    torch.testing.assert_close(out.norm(dim=1), torch.ones(5))


def test_task_is_ignored_and_hidden_layer_is_optional() -> None:
    head = HEADS.create("retrieval", in_dim=6, task=TaskSpec("regression", 3), hidden_dim=8)
    linears = [(m.in_features, m.out_features) for m in head.modules() if isinstance(m, nn.Linear)]
    assert linears == [(6, 8), (8, 64)]
    assert set(HEADS.params_model("retrieval").model_fields) == {
        "embed_dim",
        "hidden_dim",
        "dropout",
    }


def test_zero_rows_stay_finite() -> None:
    head = HEADS.create("retrieval", in_dim=2, task=None, embed_dim=3)
    with torch.no_grad():
        head.net[1].weight.zero_()
        head.net[1].bias.zero_()
    assert torch.equal(head(torch.randn(2, 2)), torch.zeros(2, 3))
    torch.testing.assert_close(F.normalize(torch.ones(1, 3), dim=-1).norm(), torch.tensor(1.0))


@pytest.mark.parametrize("method", ["loss", "predict"])
def test_loss_and_predict_point_to_contrastive_training(method: str) -> None:
    head = HEADS.create("retrieval", in_dim=3, task=None)
    emb = head(torch.randn(2, 3))
    args = (emb, torch.zeros(2)) if method == "loss" else (emb,)
    with pytest.raises(PolymodalError) as caught:
        getattr(head, method)(*args)
    message = str(caught.value)
    assert "contrastive objective" in message
    assert "retrieval metrics" in message


def test_bad_embed_dim_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="embed_dim"):
        HEADS.create("retrieval", in_dim=3, task=None, embed_dim=0)
