"""Sum fusion: project every modality to one width and average over the present ones."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.base import Fusion, presence_matrix
from polymodal.nn import present_mean
from polymodal.registry import FUSIONS, Positive


@FUSIONS.register("sum")
class SumFusion(Fusion):
    """``z_b = sum_m p_bm W_m h_bm / max(1, sum_m p_bm)`` -> ``[B, dim]``.

    Each modality's pooled vector ``h_m [B, D_m]`` is projected by its own linear map ``W_m`` to
    ``dim``; the projections of *present* modalities (``p_bm = 1``) are summed and divided by the
    number of present modalities, so the scale does not depend on how many are missing. A sample
    with no modality present gets the zero vector.

    Args:
        in_dims: modality name -> feature width (injected).
        task: the task (injected; unused).
        dim: width of the common space (the output width).
    """

    def __init__(self, in_dims: dict[str, int], task: TaskSpec, dim: Positive = 128) -> None:
        super().__init__(in_dims, task)
        self.out_dim = dim
        self.proj = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.in_dims.items()})

    def forward(self, features: dict[str, Features]) -> Tensor:
        present = presence_matrix(features, self.modalities)  # [B, M]
        projected = torch.stack(
            [self.proj[m](features[m].pooled) for m in self.modalities], dim=1
        )  # [B, M, dim]
        return present_mean(projected, present)  # [B, dim]
