"""MulT: unaligned sequences of different lengths; a source's padding does not reach targets."""

from __future__ import annotations

import pytest
import torch

from polymodal.data.schema import Features
from polymodal.errors import ConfigError
from polymodal.interaction.mult import MulTInteraction

DIMS = {"a": 3, "b": 5, "c": 2}
LENGTHS = {"a": [5, 3, 4], "b": [2, 3, 1], "c": [7, 6, 7]}  # unaligned, different lengths


def make_features(extra_padding: dict[str, int] | None = None) -> dict[str, Features]:
    """Right-padded features; ``extra_padding[m]`` appends that many padding positions filled
    with noise to modality m."""
    extra_padding = extra_padding or {}
    gen = torch.Generator().manual_seed(0)
    features = {}
    for m, d in DIMS.items():
        lengths = torch.tensor(LENGTHS[m])
        longest = int(lengths.max())
        tokens = torch.randn(3, longest, d, generator=gen)
        padding = torch.arange(longest)[None] >= lengths[:, None]  # [B, T]
        tokens = tokens * ~padding[..., None]
        extra = extra_padding.get(m, 0)
        if extra:
            noise = torch.randn(3, extra, d, generator=torch.Generator().manual_seed(9))
            tokens = torch.cat([tokens, noise], dim=1)
            padding = torch.cat([padding, torch.ones(3, extra, dtype=torch.bool)], dim=1)
        present = torch.ones(3, dtype=torch.bool)
        features[m] = Features(tokens, tokens.mean(1), padding, present)
    return features


def build(**params: int) -> MulTInteraction:
    torch.manual_seed(0)
    return MulTInteraction(DIMS, d_model=8, heads=2, layers=2, self_layers=1, **params).eval()


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_unaligned_shapes_and_last_valid_pooled(kernel_size: int) -> None:
    layer = build(kernel_size=kernel_size)
    assert layer.out_dims == {m: 8 * 2 for m in DIMS}
    features = make_features()
    with torch.no_grad():
        out = layer(features)
    for m in DIMS:
        assert out[m].tokens.shape == (3, max(LENGTHS[m]), 16)
        for i, n in enumerate(LENGTHS[m]):
            assert torch.equal(out[m].pooled[i], out[m].tokens[i, n - 1])  # last valid state


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_extending_padding_changes_nothing(kernel_size: int) -> None:
    layer = build(kernel_size=kernel_size)
    with torch.no_grad():
        reference = layer(make_features())
        longer = layer(make_features({"b": 4, "a": 2}))  # a source (for a, c) and a target
    for m in DIMS:
        valid = ~reference[m].padding_mask
        t = reference[m].tokens.shape[1]
        torch.testing.assert_close(longer[m].tokens[:, :t][valid], reference[m].tokens[valid])
        torch.testing.assert_close(longer[m].pooled, reference[m].pooled)


def test_target_attends_to_each_source() -> None:
    layer = build()
    features = make_features()
    changed = dict(features)
    f = features["b"]
    changed["b"] = Features(f.tokens + 1.0, f.pooled, f.padding_mask, f.present)
    with torch.no_grad():
        before, after = layer(features), layer(changed)
    assert not torch.allclose(before["a"].pooled, after["a"].pooled)
    assert not torch.allclose(before["c"].pooled, after["c"].pooled)


def test_invalid_params_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        MulTInteraction({"a": 2}, d_model=10, heads=4, kernel_size=2)
    assert len(info.value.problems) == 3
