"""Every registered interaction: shapes, finiteness, gradients and mask handling."""

from __future__ import annotations

import pytest
import torch

from polymodal.data.schema import Features
from polymodal.registry import INTERACTIONS

B = 5
# modality -> (width, lengths per sample, presence per sample); every modality is missing for
# some sample, every sample has at least one modality, and lengths differ across modalities.
SPECS = {
    "a": (3, [4, 1, 3, 1, 4], [True, False, True, True, True]),
    "b": (5, [2, 3, 1, 2, 3], [True, True, False, True, True]),
    "c": (2, [1, 2, 5, 1, 2], [True, True, True, False, True]),
}


def make_features(names: list[str], seed: int = 0) -> dict[str, Features]:
    """Collate-like features: right padding; an absent sample has zeros and one valid position."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name in names:
        width, lengths, present = SPECS[name]
        lengths = [n if p else 1 for n, p in zip(lengths, present, strict=True)]
        present_t = torch.tensor(present)
        padding = torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]  # [B, T]
        tokens = torch.randn(B, max(lengths), width, generator=gen)
        tokens = tokens * (~padding & present_t[:, None])[..., None]
        pooled = torch.randn(B, width, generator=gen) * present_t[:, None]
        out[name] = Features(tokens, pooled, padding, present_t)
    return out


def scramble_invalid(features: dict[str, Features], seed: int = 1) -> dict[str, Features]:
    """Same features with random (finite) values at padding positions and absent samples."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, f in features.items():
        invalid = f.padding_mask | ~f.present[:, None]  # [B, T]
        noise = torch.randn(f.tokens.shape, generator=gen)
        tokens = torch.where(invalid[..., None], noise, f.tokens)
        noise = torch.randn(f.pooled.shape, generator=gen)
        pooled = torch.where(~f.present[:, None], noise, f.pooled)
        out[name] = Features(tokens, pooled, f.padding_mask, f.present)
    return out


def build(name: str, names: list[str]) -> torch.nn.Module:
    torch.manual_seed(0)
    return INTERACTIONS.create(name, in_dims={m: SPECS[m][0] for m in names})


@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c"]], ids=["M2", "M3"])
@pytest.mark.parametrize("name", INTERACTIONS.names())
def test_forward_backward(name: str, names: list[str]) -> None:
    layer = build(name, names)
    features = make_features(names)
    out = layer(features)
    assert list(out) == names
    assert set(layer.out_dims) == set(names)
    gen = torch.Generator().manual_seed(2)
    loss = torch.zeros(())
    for m in names:
        f, g = features[m], out[m]
        assert g.tokens.shape == (*f.tokens.shape[:2], layer.out_dims[m])
        assert g.pooled.shape == (B, layer.out_dims[m])
        assert torch.isfinite(g.tokens).all()
        assert torch.isfinite(g.pooled).all()
        assert torch.equal(g.padding_mask, f.padding_mask)
        assert torch.equal(g.present, f.present)
        # random weights: a plain sum after a LayerNorm would have zero gradient
        loss = loss + (g.tokens * torch.randn(g.tokens.shape, generator=gen)).sum()
        loss = loss + (g.pooled * torch.randn(g.pooled.shape, generator=gen)).sum()
    loss.backward()
    for pname, param in layer.named_parameters():
        assert param.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient in {pname}"
        assert param.grad.abs().sum() > 0, f"{name}: zero gradient in {pname}"


@pytest.mark.parametrize("name", INTERACTIONS.names())
def test_padding_and_absent_values_are_not_read(name: str) -> None:
    names = ["a", "b", "c"]
    layer = build(name, names).eval()
    features = make_features(names)
    with torch.no_grad():
        reference = layer(features)
        scrambled = layer(scramble_invalid(features))
    for m in names:
        valid = ~features[m].padding_mask & features[m].present[:, None]  # [B, T]
        torch.testing.assert_close(scrambled[m].tokens[valid], reference[m].tokens[valid])
        present = features[m].present
        torch.testing.assert_close(scrambled[m].pooled[present], reference[m].pooled[present])


@pytest.mark.parametrize("name", INTERACTIONS.names())
def test_deterministic(name: str) -> None:
    names = ["a", "b"]
    outs = [build(name, names).eval()(make_features(names)) for _ in range(2)]
    for m in names:
        assert torch.equal(outs[0][m].tokens, outs[1][m].tokens)
        assert torch.equal(outs[0][m].pooled, outs[1][m].pooled)
