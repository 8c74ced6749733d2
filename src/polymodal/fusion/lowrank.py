"""Low-rank multimodal fusion (LMF): tensor fusion with a rank-r factorised weight tensor.

Liu et al. 2018, "Efficient Low-rank Multimodal Fusion with Modality-Specific Factors", ACL.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.base import Fusion
from polymodal.fusion.tensor import append_one
from polymodal.nn import zero_absent
from polymodal.registry import FUSIONS, Dropout, Positive


@FUSIONS.register("lowrank")
class LowRankFusion(Fusion):
    """Low-rank Multimodal Fusion (Liu et al. 2018).

    With ``z~_m = [z_m; 1] [B, D_m + 1]`` (the pooled vector extended by a 1, as in TFN),
    modality-specific factors ``W_m^(i) [D_m + 1, hidden_dim]`` for ``i = 1..rank``, rank weights
    ``w_i`` and a bias ``b``::

        h = sum_i w_i * prod_m (z~_m W_m^(i)) + b            # [B, hidden_dim]

    which equals tensor fusion ``W . (z~_1 (x) ... (x) z~_M) + b`` with the full weight tensor
    ``W = sum_i w_i W_1^(i) (x) ... (x) W_M^(i)`` (outer product over the input axes, shared
    output axis), at a cost linear in the number of modalities.

    Missing modality: an absent ``z_m`` is replaced by zeros, so ``z~_m = [0; 1]`` keeps exactly
    the tensor-fusion terms of the present modalities (the absent one contributes no data).

    Args:
        in_dims: modality -> pooled width (injected).
        task: the task (injected; unused).
        rank: number of rank-one terms ``r``.
        hidden_dim: output width.
        dropout: dropout on the output.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        task: TaskSpec,
        rank: Positive = 4,
        hidden_dim: Positive = 64,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims, task)
        self.rank = rank
        self.factors = nn.ParameterDict(
            {m: nn.Parameter(torch.empty(rank, d + 1, hidden_dim)) for m, d in in_dims.items()}
        )
        self.rank_weights = nn.Parameter(torch.empty(1, rank))
        self.bias = nn.Parameter(torch.zeros(hidden_dim))
        self.dropout = nn.Dropout(dropout)
        self.out_dim = hidden_dim
        for factor in self.factors.values():
            nn.init.xavier_normal_(factor)
        nn.init.xavier_normal_(self.rank_weights)

    def forward(self, features: dict[str, Features]) -> Tensor:
        terms = []
        for m in self.modalities:
            f = features[m]
            z = zero_absent(f.pooled, f.present)  # [B, D_m]
            terms.append(torch.einsum("bd,rdo->bro", append_one(z), self.factors[m]))  # [B, r, H]
        product = functools.reduce(torch.mul, terms)  # [B, r, H]
        fused = torch.einsum("r,bro->bo", self.rank_weights[0], product) + self.bias  # [B, H]
        return self.dropout(fused)
