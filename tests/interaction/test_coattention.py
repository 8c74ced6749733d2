"""Co-attention (ViLBERT): queries from a stream, keys/values from the other streams only."""

from __future__ import annotations

import torch

from polymodal.data.schema import Features
from polymodal.interaction.coattention import CoAttentionInteraction

DIMS = {"a": 3, "b": 4, "c": 2}
LENGTHS = {"a": [4, 2], "b": [3, 3], "c": [1, 2]}


def make_features(seed: int = 0) -> dict[str, Features]:
    gen = torch.Generator().manual_seed(seed)
    features = {}
    for m, d in DIMS.items():
        lengths = torch.tensor(LENGTHS[m])
        padding = torch.arange(int(lengths.max()))[None] >= lengths[:, None]  # [B, T]
        tokens = torch.randn(2, padding.shape[1], d, generator=gen) * ~padding[..., None]
        features[m] = Features(tokens, tokens.mean(1), padding, torch.ones(2, dtype=torch.bool))
    return features


def build(dims: dict[str, int], **params: object) -> CoAttentionInteraction:
    torch.manual_seed(0)
    return CoAttentionInteraction(dims, d_model=8, heads=2, **params).eval()


@torch.no_grad()
def test_co_attention_token_sees_only_itself_and_the_other_stream() -> None:
    # one layer without self-attention: a's token t mixes only a's token t and b's tokens
    layer = build({"a": 3, "b": 4}, layers=1, self_attention=False)
    features = {m: f for m, f in make_features().items() if m != "c"}
    before = layer(features)
    changed = dict(features)
    f = features["a"]
    tokens = f.tokens.clone()
    tokens[:, 1] += 1.0  # change a's token 1 only
    changed["a"] = Features(tokens, f.pooled, f.padding_mask, f.present)
    after = layer(changed)
    keep = [0, 2, 3]
    torch.testing.assert_close(after["a"].tokens[0, keep], before["a"].tokens[0, keep])
    assert not torch.allclose(after["a"].tokens[:, 1], before["a"].tokens[:, 1])
    assert not torch.allclose(after["b"].tokens, before["b"].tokens)  # b attends to a


@torch.no_grad()
def test_stream_attends_to_concatenation_of_others_in_any_order() -> None:
    layer = build(DIMS, layers=2)
    reordered = build({m: DIMS[m] for m in ["a", "c", "b"]}, layers=2)
    reordered.load_state_dict(layer.state_dict())  # per-stream weights keyed by modality
    features = make_features()
    out, out_r = layer(features), reordered(features)
    for m in DIMS:
        torch.testing.assert_close(out_r[m].tokens, out[m].tokens)
        torch.testing.assert_close(out_r[m].pooled, out[m].pooled)


@torch.no_grad()
def test_absent_other_stream_leaves_only_the_residual_path() -> None:
    layer = build({"a": 3, "b": 4}, layers=1, self_attention=False)
    features = {m: f for m, f in make_features().items() if m != "c"}
    f = features["b"]
    features["b"] = Features(f.tokens, f.pooled, f.padding_mask, torch.tensor([False, True]))
    out = layer(features)
    # by hand: x = proj(a); x = x + 0 (no keys); x = x + FF(LN(x)); final LayerNorm
    block = layer.co[0]["a"]
    x = layer.proj["a"](features["a"].tokens[0, :4])
    x = x + block.ff(block.norm_ff(x))
    torch.testing.assert_close(out["a"].tokens[0], layer.norm["a"](x))
