"""Tensor fusion (TFN): the outer product of the modalities' vectors, each extended by a 1.

Zadeh et al. 2017, "Tensor Fusion Network for Multimodal Sentiment Analysis", EMNLP.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.errors import ConfigError
from polymodal.fusion.base import Fusion
from polymodal.nn import zero_absent
from polymodal.registry import FUSIONS, Dropout, Positive

MAX_TENSOR_DIM = 1 << 17
"""Largest flattened fusion tensor allowed; beyond it use ``lowrank`` or a smaller ``proj_dim``."""


def append_one(h: Tensor) -> Tensor:
    """``[B, d] -> [B, d + 1]``: ``[h; 1]``."""
    return torch.cat([h, h.new_ones(h.shape[0], 1)], dim=1)


def outer_product(vectors: list[Tensor]) -> Tensor:
    """Flattened outer product of ``[B, n_1], ..., [B, n_M]`` -> ``[B, n_1 * ... * n_M]``.

    Row-major: the first vector's index varies slowest, so for two vectors entry
    ``i * n_2 + j`` is ``v_1[i] * v_2[j]``.
    """
    fused = vectors[0]
    for v in vectors[1:]:
        fused = (fused[:, :, None] * v[:, None, :]).reshape(fused.shape[0], -1)  # [B, n * n_m]
    return fused


@FUSIONS.register("tensor")
class TensorFusion(Fusion):
    """Tensor Fusion Network (Zadeh et al. 2017).

    Each modality's pooled vector ``z_m [B, D_m]`` is projected to ``h_m = W_m z_m [B, proj_dim]``
    and extended by a constant: ``[h_m; 1]``. The fusion tensor is the outer product
    ``[h_1; 1] (x) ... (x) [h_M; 1]``, flattened to ``[B, (proj_dim + 1)^M]``; thanks to the 1s it
    holds every unimodal vector, every pairwise product, ..., and the full M-way product as
    sub-blocks. A linear layer, ReLU and dropout then map it to ``[B, hidden_dim]``.

    With ``norm``, each ``h_m`` is layer-normalised (a LayerNorm over its ``proj_dim`` entries,
    with learned scale and shift) before the 1 is appended, so the products of the outer product
    have a scale that does not drift with the encoders' output scale. ``tensor_dropout`` drops
    entries of the flattened fusion tensor (training only) before the output layer.

    Missing modality: an absent ``h_m`` is replaced by zeros, so ``[0; 1]`` keeps exactly the terms
    of the present modalities and the absent one contributes no data.

    Args:
        in_dims: modality -> pooled width (injected).
        task: the task (injected; unused).
        proj_dim: per-modality width before the outer product (the paper's unimodal subnetworks).
        hidden_dim: output width.
        dropout: dropout on the output.
        norm: layer-normalise each projected vector before the outer product.
        tensor_dropout: dropout on the flattened fusion tensor.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        task: TaskSpec,
        proj_dim: Positive = 8,
        hidden_dim: Positive = 64,
        dropout: Dropout = 0.0,
        norm: bool = False,
        tensor_dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims, task)
        self.tensor_dim = math.prod(proj_dim + 1 for _ in self.modalities)
        if self.tensor_dim > MAX_TENSOR_DIM:
            raise ConfigError(
                [
                    f"fusion 'tensor': the fusion tensor would have (proj_dim + 1)^M = "
                    f"{proj_dim + 1}^{len(self.modalities)} = {self.tensor_dim} entries "
                    f"(limit {MAX_TENSOR_DIM}); lower proj_dim or use fusion 'lowrank'"
                ],
                source="fusion 'tensor'",
            )
        self.proj = nn.ModuleDict({m: nn.Linear(d, proj_dim) for m, d in self.in_dims.items()})
        self.norm = (
            nn.ModuleDict({m: nn.LayerNorm(proj_dim) for m in self.modalities}) if norm else None
        )
        self.tensor_dropout = nn.Dropout(tensor_dropout)
        self.out = nn.Sequential(
            nn.Linear(self.tensor_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout)
        )
        self.out_dim = hidden_dim

    def project(self, features: dict[str, Features]) -> list[Tensor]:
        """Projected (and, with ``norm``, normalised) vectors ``h_m [B, proj_dim]`` in modality
        order; zeros where absent."""
        projected = []
        for m in self.modalities:
            f = features[m]
            h = self.proj[m](zero_absent(f.pooled, f.present))  # [B, proj_dim]
            if self.norm is not None:
                h = self.norm[m](h)
            projected.append(zero_absent(h, f.present))
        return projected

    def fusion_tensor(self, features: dict[str, Features]) -> Tensor:
        """The flattened fusion tensor ``[B, prod_m (proj_dim + 1)]``; see :func:`outer_product`."""
        return outer_product([append_one(h) for h in self.project(features)])

    def forward(self, features: dict[str, Features]) -> Tensor:
        return self.out(self.tensor_dropout(self.fusion_tensor(features)))  # [B, hidden_dim]
