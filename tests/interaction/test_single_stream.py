"""Single-stream (MMBT): tokens of one modality depend on the other; absent ones are masked."""

from __future__ import annotations

import torch
from torch import nn

from polymodal.data.schema import Features
from polymodal.interaction.single_stream import SingleStreamInteraction

DIMS = {"a": 3, "b": 4}


def make_features(b_offset: float = 0.0, b_present: list[bool] | None = None):
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 4, 3, generator=gen)
    b = torch.randn(3, 2, 4, generator=gen) + b_offset
    present_b = torch.tensor(b_present or [True, True, True])
    no_padding = torch.zeros(3, 4, dtype=torch.bool)
    return {
        "a": Features(a, a.mean(1), no_padding, torch.ones(3, dtype=torch.bool)),
        "b": Features(b, b.mean(1), torch.zeros(3, 2, dtype=torch.bool), present_b),
    }


def build() -> SingleStreamInteraction:
    torch.manual_seed(0)
    return SingleStreamInteraction(DIMS, d_model=8, heads=2, layers=2).eval()


@torch.no_grad()
def test_tokens_of_one_modality_depend_on_the_other() -> None:
    layer = build()
    before = layer(make_features())["a"].tokens
    after = layer(make_features(b_offset=1.0))["a"].tokens
    assert (after - before).abs().amin(dim=-1).gt(0).all()  # every token of a changes


@torch.no_grad()
def test_absent_modality_is_masked() -> None:
    layer = build()
    present = [True, False, True]
    before = layer(make_features(b_present=present))
    after = layer(make_features(b_offset=3.0, b_present=present))
    torch.testing.assert_close(after["a"].tokens[1], before["a"].tokens[1], rtol=0, atol=0)
    assert not torch.allclose(after["a"].tokens[0], before["a"].tokens[0])
    assert torch.all(after["b"].tokens[1] == 0)
    assert torch.all(after["b"].pooled[1] == 0)
    # a sample without b equals running a alone (same weights, a single-modality sequence)
    alone = SingleStreamInteraction({"a": 3}, d_model=8, heads=2, layers=2).eval()
    state = {k: v for k, v in layer.state_dict().items() if not k.startswith("proj.b.")}
    state["segment.weight"] = state["segment.weight"][:1]
    alone.load_state_dict(state)
    only_a = {"a": make_features()["a"]}
    torch.testing.assert_close(alone(only_a)["a"].tokens[1], before["a"].tokens[1])


@torch.no_grad()
def test_build_encoder_is_the_hook_for_another_backbone() -> None:
    class Identity(nn.Module):
        def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
            return x

    class NoMixing(SingleStreamInteraction):
        def build_encoder(self, d_model: int, heads: int, layers: int, dropout: float) -> nn.Module:
            return Identity()

    torch.manual_seed(0)
    layer = NoMixing(DIMS, d_model=8, heads=2, layers=1)
    assert isinstance(layer.encoder, Identity)
    before = layer(make_features())["a"].tokens
    after = layer(make_features(b_offset=1.0))["a"].tokens
    assert torch.equal(before, after)  # without the shared encoder, a no longer sees b
