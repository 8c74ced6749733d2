"""Tests of early fusion by concatenation (polymodal.fusion.concat)."""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.data.schema import Features, TaskSpec
from polymodal.registry import FUSIONS

TASK = TaskSpec("multiclass", 3)


def _features(pooled: Tensor, present: list[bool]) -> Features:
    b = pooled.shape[0]
    return Features(
        tokens=pooled.unsqueeze(1),
        pooled=pooled,
        padding_mask=torch.zeros(b, 1, dtype=torch.bool),
        present=torch.tensor(present),
    )


def test_concatenates_in_in_dims_order_with_missing_embeddings() -> None:
    torch.manual_seed(0)
    fusion = FUSIONS.create("concat", in_dims={"a": 2, "b": 3}, task=TASK)
    assert fusion.out_dim == 5
    a, b = torch.randn(4, 2), torch.randn(4, 3)
    # the dict order of the features differs from in_dims: the fusion's order must win
    out = fusion({"b": _features(b, [True, False, True, False]), "a": _features(a, [True] * 4)})
    assert out.shape == (4, 5)
    assert torch.equal(out[:, :2], a)
    for i, present in enumerate([True, False, True, False]):
        expected = b[i] if present else fusion.missing["b"].detach()
        assert torch.equal(out[i, 2:], expected)


def test_missing_embedding_is_learned_and_not_zero() -> None:
    torch.manual_seed(0)
    fusion = FUSIONS.create("concat", in_dims={"a": 4, "b": 4}, task=TASK)
    assert bool((fusion.missing["a"] != 0).any())
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(3, 4)
    out = fusion({"a": _features(a, [False, True, True]), "b": _features(b, [True] * 3)})
    out.sum().backward()
    # "a" is absent once: its missing embedding gets the gradient of that row only
    assert torch.equal(fusion.missing["a"].grad, torch.ones(4))
    assert fusion.missing["b"].grad is None or bool((fusion.missing["b"].grad == 0).all())
    # the absent row passes no gradient to the encoder's values
    assert a.grad is not None
    assert torch.equal(a.grad, torch.tensor([[0.0] * 4, [1.0] * 4, [1.0] * 4]))


def test_absent_values_never_reach_the_output() -> None:
    fusion = FUSIONS.create("concat", in_dims={"a": 2}, task=TASK)
    present = [True, False]
    x = torch.randn(2, 2)
    y = x.clone()
    y[1] = 1e6
    assert torch.equal(fusion({"a": _features(x, present)}), fusion({"a": _features(y, present)}))


def test_norm_puts_every_modality_block_on_one_scale() -> None:
    """``norm: true``: each block is LayerNorm'd on its own (checked against
    ``torch.nn.functional.layer_norm`` at initialisation: unit gain, zero bias), so a modality
    a thousand times larger enters at the same scale; the default leaves the values as they are."""
    torch.manual_seed(0)
    a, b = torch.randn(5, 3), 1000 * torch.randn(5, 4)
    features = {"a": _features(a, [True] * 5), "b": _features(b, [True, False, True, True, True])}
    plain = FUSIONS.create("concat", in_dims={"a": 3, "b": 4}, task=TASK)
    assert torch.equal(plain(features)[:, :3], a)
    normed = FUSIONS.create("concat", in_dims={"a": 3, "b": 4}, task=TASK, norm=True)
    out = normed(features)
    expected_b = torch.where(features["b"].present[:, None], b, normed.missing["b"].detach())
    torch.testing.assert_close(out[:, :3], torch.nn.functional.layer_norm(a, (3,)))
    torch.testing.assert_close(out[:, 3:], torch.nn.functional.layer_norm(expected_b, (4,)))
    assert out[:, 3:].abs().max() < 3  # the block of scale 1000 is now of unit scale


def test_norm_false_builds_the_model_of_before_the_option() -> None:
    """Presets write ``norm: false``: it must add no parameter and draw nothing from the
    generator, so runs of the presets from before the option reproduce."""
    torch.manual_seed(0)
    default = FUSIONS.create("concat", in_dims={"a": 3, "b": 4}, task=TASK)
    after_default = torch.rand(1)
    torch.manual_seed(0)
    explicit = FUSIONS.create("concat", in_dims={"a": 3, "b": 4}, task=TASK, norm=False)
    assert torch.equal(torch.rand(1), after_default)
    a, b = default.state_dict(), explicit.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    normed = FUSIONS.create("concat", in_dims={"a": 3, "b": 4}, task=TASK, norm=True)
    assert set(normed.state_dict()) > set(a)  # the option on does add its LayerNorms
