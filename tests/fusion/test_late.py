"""Tests of late fusion (polymodal.fusion.late)."""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.data.schema import Features, TaskSpec
from polymodal.registry import FUSIONS

TASK = TaskSpec("multiclass", 3)


def _features(pooled: Tensor, present: list[bool]) -> Features:
    b = pooled.shape[0]
    return Features(
        pooled.unsqueeze(1), pooled, torch.zeros(b, 1, dtype=torch.bool), torch.tensor(present)
    )


def test_output_is_mean_of_present_per_modality_outputs() -> None:
    torch.manual_seed(0)
    fusion = FUSIONS.create("late", in_dims={"a": 4, "b": 5}, task=TASK, hidden_dim=8).eval()
    assert fusion.owns_head
    assert fusion.out_dim == 3
    a, b = torch.randn(4, 4), torch.randn(4, 5)
    pa, pb = [True, True, False, False], [True, False, True, False]
    feats = {"a": _features(a, pa), "b": _features(b, pb)}
    fused, extras = fusion.forward_with_extras(feats)
    ya, yb = fusion.heads["a"](a), fusion.heads["b"](b)
    assert set(extras) == {"output/a", "output/b"}
    torch.testing.assert_close(extras["output/a"], ya)
    torch.testing.assert_close(extras["output/b"], yb)
    torch.testing.assert_close(fused[0], (ya[0] + yb[0]) / 2)  # both present
    torch.testing.assert_close(fused[1], ya[1])  # only a
    torch.testing.assert_close(fused[2], yb[2])  # only b
    torch.testing.assert_close(fused[3], torch.zeros(3))  # none
    torch.testing.assert_close(fusion(feats), fused)


def test_per_modality_head_is_an_mlp_to_num_outputs() -> None:
    torch.manual_seed(0)
    fusion = FUSIONS.create("late", in_dims={"a": 4}, task=TASK, hidden_dim=None, dropout=0.0)
    x = torch.randn(2, 4)
    linear = fusion.heads["a"][-1]
    torch.testing.assert_close(fusion({"a": _features(x, [True, True])}), linear(x))
