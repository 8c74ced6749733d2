"""Gated multimodal unit (GMU): a learned, per-sample convex combination of modality vectors.

Arevalo et al. 2017, "Gated Multimodal Units for Information Fusion", ICLR workshop.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.base import Fusion, presence_matrix
from polymodal.nn import masked_softmax, zero_absent
from polymodal.registry import FUSIONS, Dropout, Positive


@FUSIONS.register("gated")
class GatedFusion(Fusion):
    """Gated Multimodal Unit (Arevalo et al. 2017), generalised to M modalities.

    For pooled vectors ``z_m [B, D_m]``::

        h_m = tanh(W_m z_m)                                  # [B, H]
        g   = softmax_m(W_g [z_1; ...; z_M])                 # [B, M, H], sums to 1 over m
        out = sum_m g_m * h_m                                # [B, H]

    The gates are per hidden unit, as in the paper. For two modalities the softmax over
    modalities equals the paper's sigmoid form ``g_1 = sigmoid(a_1 - a_2), g_2 = 1 - g_1``.

    Missing modality: its gate logits are masked, so its gate is exactly 0 and the gates of the
    present modalities still sum to 1, and it contributes nothing (an absent ``z_m`` enters the
    gate input ``[z_1; ...; z_M]`` as zeros). A sample with no modality at all gives zeros. (A
    learned "missing" vector in the gate input would get no gradient with two modalities, where
    the one present modality's gate is always 1.)

    Args:
        in_dims: modality -> pooled width (injected).
        task: the task (injected; unused).
        hidden_dim: output width ``H``.
        dropout: dropout on the output.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        task: TaskSpec,
        hidden_dim: Positive = 64,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims, task)
        self.hidden_dim = hidden_dim
        self.value = nn.ModuleDict({m: nn.Linear(d, hidden_dim) for m, d in in_dims.items()})
        self.gate = nn.Linear(sum(in_dims.values()), len(in_dims) * hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = hidden_dim

    def gates(self, features: dict[str, Features]) -> Tensor:
        """Gate values ``[B, M, H]`` in modality order: 0 for absent modalities, summing to 1
        over present ones (all 0 for a sample with no modality)."""
        inputs = []
        for m in self.modalities:
            f = features[m]
            inputs.append(zero_absent(f.pooled, f.present))  # [B, D_m]
        logits = self.gate(torch.cat(inputs, dim=1))  # [B, M * H]
        logits = logits.reshape(logits.shape[0], len(self.modalities), self.hidden_dim)  # [B, M, H]
        absent = presence_matrix(features, self.modalities) == 0  # [B, M]
        return masked_softmax(logits, absent[:, :, None], dim=1)

    def forward(self, features: dict[str, Features]) -> Tensor:
        values = []
        for m in self.modalities:
            f = features[m]
            h = torch.tanh(self.value[m](zero_absent(f.pooled, f.present)))  # [B, H]
            values.append(zero_absent(h, f.present))
        h = torch.stack(values, dim=1)  # [B, M, H]
        return self.dropout((self.gates(features) * h).sum(dim=1))  # [B, H]
