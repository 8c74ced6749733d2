"""Low-rank fusion (LMF) equals tensor fusion with the weight tensor rebuilt from its factors."""

from __future__ import annotations

import torch

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.lowrank import LowRankFusion
from polymodal.fusion.tensor import outer_product

TASK = TaskSpec("multiclass", 3)


def pooled_features(pooled: dict[str, torch.Tensor], present: dict[str, list[bool]]):
    return {
        m: Features(
            z[:, None, :], z, torch.zeros(z.shape[0], 1, dtype=torch.bool), torch.tensor(present[m])
        )
        for m, z in pooled.items()
    }


def with_one(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([z, torch.ones(z.shape[0], 1, dtype=z.dtype)], dim=1)


def test_equals_tfn_with_reconstructed_weight_two_modalities() -> None:
    torch.manual_seed(0)
    fusion = LowRankFusion({"a": 2, "b": 3}, TASK, rank=3, hidden_dim=4).double()
    with torch.no_grad():
        fusion.bias.normal_()
    za, zb = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    present = {"a": [True, True, False, True, True], "b": [True, False, True, True, True]}
    out = fusion(pooled_features({"a": za, "b": zb}, present))

    # Full TFN weight W[j, k, o] = sum_i w_i A[i, j, o] B[i, k, o], built by hand.
    a_f, b_f, w = fusion.factors["a"], fusion.factors["b"], fusion.rank_weights[0]
    weight = torch.zeros(3, 4, 4, dtype=torch.float64)
    for i in range(3):
        for j in range(3):
            for k in range(4):
                weight[j, k] += w[i] * a_f[i, j] * b_f[i, k]
    za_eff = za * torch.tensor(present["a"], dtype=torch.float64)[:, None]  # absent -> [0; 1]
    zb_eff = zb * torch.tensor(present["b"], dtype=torch.float64)[:, None]
    expected = torch.einsum("bj,bk,jko->bo", with_one(za_eff), with_one(zb_eff), weight)
    torch.testing.assert_close(out, expected + fusion.bias)


def test_equals_tfn_outer_product_three_modalities() -> None:
    torch.manual_seed(1)
    dims = {"a": 2, "b": 1, "c": 3}
    fusion = LowRankFusion(dims, TASK, rank=2, hidden_dim=3).double()
    pooled = {m: torch.randn(4, d, dtype=torch.float64) for m, d in dims.items()}
    out = fusion(pooled_features(pooled, {m: [True] * 4 for m in dims}))
    weight = sum(
        fusion.rank_weights[0, i]
        * torch.einsum("jo,ko,lo->jklo", *(fusion.factors[m][i] for m in dims))
        for i in range(2)
    ).reshape(-1, 3)  # [(2+1)(1+1)(3+1), H], row-major like outer_product
    tfn = outer_product([with_one(pooled[m]) for m in dims]) @ weight
    torch.testing.assert_close(out, tfn + fusion.bias)
