"""Attention pooling over modalities: a learned query attends over the modality vectors.

The query-based attention pooling of Lee et al. 2019 ("Set Transformer", PMA with one seed
vector), applied to the set of modality vectors as in attention-based multimodal fusion.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.base import Fusion, presence_matrix
from polymodal.nn import check_params, masked_softmax, zero_absent
from polymodal.registry import FUSIONS, Dropout, Positive


@FUSIONS.register("attention_pool")
class AttentionPoolFusion(Fusion):
    """Attention pooling over modality vectors with a learned query (Lee et al. 2019, PMA).

    Each pooled vector is projected to a common width, ``h_m = W_m z_m [B, H]``; with ``heads``
    heads of width ``dh = H / heads``, a learned query ``q [heads, dh]`` and key / value maps::

        a[b, :, m] = softmax_m(q . K h_m / sqrt(dh))         # [B, heads, M]
        out        = concat_heads(sum_m a[b, :, m] V h_m)    # [B, H]

    Missing modality: its attention logit is masked, so its weight is exactly 0 and the weights
    of the present modalities sum to 1; a sample with no modality at all gives zeros.

    Args:
        in_dims: modality -> pooled width (injected).
        task: the task (injected; unused).
        hidden_dim: common width ``H`` and output width.
        heads: attention heads (must divide ``hidden_dim``).
        dropout: dropout on the output.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        task: TaskSpec,
        hidden_dim: Positive = 64,
        heads: Positive = 1,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims, task)
        check_params(
            "fusion 'attention_pool'",
            heads=(hidden_dim % heads == 0, "must divide hidden_dim"),
        )
        self.heads = heads
        self.proj = nn.ModuleDict({m: nn.Linear(d, hidden_dim) for m, d in in_dims.items()})
        self.query = nn.Parameter(torch.randn(heads, hidden_dim // heads) / math.sqrt(hidden_dim))
        self.key = nn.Linear(hidden_dim, hidden_dim)
        self.value = nn.Linear(hidden_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = hidden_dim

    def _nodes(self, features: dict[str, Features]) -> Tensor:
        """Projected modality vectors ``[B, M, H]`` (zeros where absent)."""
        nodes = []
        for m in self.modalities:
            f = features[m]
            h = self.proj[m](zero_absent(f.pooled, f.present))  # [B, H]
            nodes.append(zero_absent(h, f.present))
        return torch.stack(nodes, dim=1)

    def _split(self, x: Tensor) -> Tensor:
        b, m, d = x.shape
        return x.reshape(b, m, self.heads, d // self.heads).transpose(1, 2)  # [B, heads, M, dh]

    def _weights(self, nodes: Tensor, features: dict[str, Features]) -> Tensor:
        keys = self._split(self.key(nodes))  # [B, heads, M, dh]
        scores = (keys @ self.query[:, :, None]).squeeze(-1)  # [B, heads, M]
        scores = scores / math.sqrt(keys.shape[-1])
        absent = presence_matrix(features, self.modalities) == 0  # [B, M]
        return masked_softmax(scores, absent[:, None, :])

    def attention_weights(self, features: dict[str, Features]) -> Tensor:
        """Weights ``[B, heads, M]`` in modality order: 0 for absent modalities, summing to 1
        over present ones (all 0 for a sample with no modality)."""
        return self._weights(self._nodes(features), features)

    def forward(self, features: dict[str, Features]) -> Tensor:
        nodes = self._nodes(features)  # [B, M, H]
        weights = self._weights(nodes, features)  # [B, heads, M]
        values = self._split(self.value(nodes))  # [B, heads, M, dh]
        pooled = (weights[..., None] * values).sum(dim=2)  # [B, heads, dh]
        return self.dropout(pooled.reshape(pooled.shape[0], -1))  # [B, H]
