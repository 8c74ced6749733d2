"""Every registered fusion: shapes, finiteness, gradients and missing-modality handling."""

from __future__ import annotations

import pytest
import torch

from polymodal.data.schema import Features, TaskSpec
from polymodal.registry import FUSIONS

TASK = TaskSpec("multiclass", 3)
B = 5
# modality -> (width, lengths per sample, presence per sample); every modality is missing for
# some sample and every sample has at least one modality.
SPECS = {
    "a": (3, [4, 1, 3, 1, 4], [True, False, True, True, True]),
    "b": (5, [2, 3, 1, 2, 3], [True, True, False, True, True]),
    "c": (2, [1, 2, 3, 1, 2], [True, True, True, False, True]),
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


def scramble_absent(features: dict[str, Features], seed: int = 1) -> dict[str, Features]:
    """Same features with random (finite) values where a modality is absent or padded."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, f in features.items():
        absent = ~f.present
        invalid = f.padding_mask | absent[:, None]
        tokens = torch.where(
            invalid[..., None], torch.randn(f.tokens.shape, generator=gen), f.tokens
        )
        pooled = torch.where(absent[:, None], torch.randn(f.pooled.shape, generator=gen), f.pooled)
        out[name] = Features(tokens, pooled, f.padding_mask, f.present)
    return out


def build(name: str, names: list[str]) -> torch.nn.Module:
    torch.manual_seed(0)
    return FUSIONS.create(name, in_dims={m: SPECS[m][0] for m in names}, task=TASK)


@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c"]], ids=["M2", "M3"])
@pytest.mark.parametrize("name", FUSIONS.names())
def test_forward_backward(name: str, names: list[str]) -> None:
    fusion = build(name, names)
    features = make_features(names)
    out = fusion(features)
    assert out.shape == (B, fusion.out_dim)
    assert torch.isfinite(out).all()
    if getattr(fusion, "owns_head", False):
        assert fusion.out_dim == TASK.num_outputs
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out * weights).sum().backward()
    for pname, param in fusion.named_parameters():
        assert param.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient in {pname}"
        assert param.grad.abs().sum() > 0, f"{name}: zero gradient in {pname}"


@pytest.mark.parametrize("name", FUSIONS.names())
def test_absent_values_are_not_read(name: str) -> None:
    names = ["a", "b", "c"]
    fusion = build(name, names).eval()
    features = make_features(names)
    with torch.no_grad():
        reference = fusion(features)
        scrambled = fusion(scramble_absent(features))
    torch.testing.assert_close(scrambled, reference, rtol=0, atol=0)


@pytest.mark.parametrize("name", FUSIONS.names())
def test_deterministic(name: str) -> None:
    names = ["a", "b"]
    outs = [build(name, names).eval()(make_features(names)) for _ in range(2)]
    assert torch.equal(outs[0], outs[1])
