"""Graph fusion: attention-weighted message passing between modality nodes.

In the spirit of the Dynamic Fusion Graph of Graph-MFN (Zadeh et al. 2018, "Multimodal Language
Analysis in the Wild: CMU-MOSEI and Dynamic Fusion Graph", ACL) and of MTAG (Yang et al. 2021,
"MTAG: Modal-Temporal Attention Graph for Unaligned Human Multimodal Language Sequences",
NAACL): edge weights between modalities are computed from the data (here by attention, as in
graph attention networks, Velickovic et al. 2018). No graph library is needed: the graph is the
complete graph (with self-loops) over the modalities present in each sample.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.base import Fusion, presence_matrix
from polymodal.nn import masked_softmax, present_mean, zero_absent
from polymodal.registry import FUSIONS, Dropout, NonNegative, Positive


class MessageRound(nn.Module):
    """One round of attention message passing on the complete graph (with self-loops, as in
    graph attention networks) over the present nodes.

    ``forward(h [B, M, H], absent [B, M]) -> [B, M, H]``::

        a[b, i, j] = softmax_{j present}(Q h_i . K h_j / sqrt(H))
        msg_i      = sum_j a[b, i, j] V h_j
        h_i'       = LayerNorm(h_i + ReLU(U [h_i; msg_i]))

    Weights are shared by all nodes, so the round is permutation-equivariant over nodes. Absent
    nodes send nothing (masked keys) and are reset to 0.
    """

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(hidden_dim, hidden_dim)
        self.k = nn.Linear(hidden_dim, hidden_dim)
        self.v = nn.Linear(hidden_dim, hidden_dim)
        self.update = nn.Linear(2 * hidden_dim, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim)

    def edge_weights(self, h: Tensor, absent: Tensor) -> Tensor:
        """Attention of each node over the nodes ``[B, M, M]`` (row i: weights over senders j);
        columns of absent nodes are exactly 0, and rows sum to 1 (0 if no node is present)."""
        scores = self.q(h) @ self.k(h).transpose(1, 2) / math.sqrt(h.shape[-1])  # [B, M, M]
        return masked_softmax(scores, absent[:, None, :])

    def forward(self, h: Tensor, absent: Tensor) -> Tensor:
        messages = self.edge_weights(h, absent) @ self.v(h)  # [B, M, H]
        updated = self.norm(h + torch.relu(self.update(torch.cat([h, messages], dim=-1))))
        return torch.where(absent[..., None], torch.zeros_like(updated), updated)


@FUSIONS.register("graph")
class GraphFusion(Fusion):
    """Message passing over modality nodes (Graph-MFN / MTAG style), read out by a mean.

    Nodes are the modalities: ``h_m^0 = W_m z_m [B, H]`` from each pooled vector (per-modality
    projection), then ``rounds`` rounds of :class:`MessageRound` (weights per round, shared by all
    nodes) on the complete graph, self-loops included, among the *present* modalities of each
    sample; the output is the mean of the final node states over present nodes, ``[B, H]``.

    Permuting the modalities permutes the node states the same way and leaves the output
    unchanged (the per-modality projections are keyed by modality name). Missing modality: its
    node is absent from the graph (sends no message, is not read out); a sample with no modality
    at all gives zeros.

    Args:
        in_dims: modality -> pooled width (injected).
        task: the task (injected; unused).
        hidden_dim: node width ``H`` and output width.
        rounds: message-passing rounds.
        dropout: dropout on the output.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        task: TaskSpec,
        hidden_dim: Positive = 64,
        rounds: NonNegative = 2,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims, task)
        self.proj = nn.ModuleDict({m: nn.Linear(d, hidden_dim) for m, d in in_dims.items()})
        self.rounds = nn.ModuleList(MessageRound(hidden_dim) for _ in range(rounds))
        self.dropout = nn.Dropout(dropout)
        self.out_dim = hidden_dim

    def node_states(self, features: dict[str, Features]) -> Tensor:
        """Final node states ``[B, M, H]`` in modality order (zeros for absent nodes)."""
        absent = presence_matrix(features, self.modalities) == 0  # [B, M]
        nodes = []
        for m in self.modalities:
            f = features[m]
            nodes.append(zero_absent(self.proj[m](zero_absent(f.pooled, f.present)), f.present))
        h = torch.stack(nodes, dim=1)  # [B, M, H]
        for message_round in self.rounds:
            h = message_round(h, absent)
        return h

    def forward(self, features: dict[str, Features]) -> Tensor:
        present = presence_matrix(features, self.modalities)  # [B, M]
        h = self.node_states(features)  # [B, M, H]
        readout = present_mean(h, present)  # [B, H] (absent nodes are zeros already)
        return self.dropout(readout)
