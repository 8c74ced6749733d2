"""Tests of sum fusion (polymodal.fusion.sum)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from polymodal.data.schema import Features, TaskSpec
from polymodal.registry import FUSIONS

TASK = TaskSpec("regression", 1)


def _features(pooled: Tensor, present: list[bool]) -> Features:
    b = pooled.shape[0]
    return Features(
        pooled.unsqueeze(1), pooled, torch.zeros(b, 1, dtype=torch.bool), torch.tensor(present)
    )


def test_mean_of_projections_over_present_modalities() -> None:
    torch.manual_seed(0)
    fusion = FUSIONS.create("sum", in_dims={"a": 3, "b": 2, "c": 4}, task=TASK, dim=5)
    assert fusion.out_dim == 5
    pooled = {"a": torch.randn(4, 3), "b": torch.randn(4, 2), "c": torch.randn(4, 4)}
    present = {
        "a": [True, True, False, False],
        "b": [True, False, True, False],
        "c": [True, False, False, False],
    }
    out = fusion({m: _features(pooled[m], present[m]) for m in pooled})
    # numpy reference: sum of W x + b over present modalities divided by their count
    expected = np.zeros((4, 5), dtype=np.float64)
    for i in range(4):
        used = [m for m in pooled if present[m][i]]
        for m in used:
            w = fusion.proj[m].weight.detach().double().numpy()
            bias = fusion.proj[m].bias.detach().double().numpy()
            expected[i] += w @ pooled[m][i].double().numpy() + bias
        expected[i] /= max(1, len(used))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(out[3], torch.zeros(5))  # nothing present -> zeros


def test_divides_by_count_not_by_number_of_modalities() -> None:
    fusion = FUSIONS.create("sum", in_dims={"a": 2, "b": 2}, task=TASK, dim=3)
    x = torch.randn(1, 2)
    alone = fusion({"a": _features(x, [True]), "b": _features(torch.randn(1, 2), [False])})
    torch.testing.assert_close(alone, fusion.proj["a"](x))
