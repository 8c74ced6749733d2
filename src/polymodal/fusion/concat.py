"""Early fusion by concatenation of pooled features, with learned missing-modality embeddings."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.base import Fusion
from polymodal.registry import FUSIONS


@FUSIONS.register("concat")
class ConcatFusion(Fusion):
    """Concatenate each modality's ``pooled [B, D_m]`` in the fixed order of ``in_dims``:
    ``[B, sum_m D_m]``.

    An absent modality (``present`` False) is never fed as data: its vector is replaced by a
    learned per-modality "missing" embedding ``[D_m]`` (initialised ``N(0, init_std^2)``), so the
    layers after the fusion see that the modality is absent, not a fake zero input.

    Args:
        in_dims: modality name -> feature width (injected); fixes the concatenation order.
        task: the task (injected; unused).
        init_std: standard deviation of the missing embeddings at initialisation.
    """

    def __init__(self, in_dims: dict[str, int], task: TaskSpec, init_std: float = 0.02) -> None:
        super().__init__(in_dims, task)
        self.out_dim = sum(self.in_dims.values())
        self.missing = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(d) * init_std) for m, d in self.in_dims.items()}
        )

    def forward(self, features: dict[str, Features]) -> Tensor:
        parts = []
        for m in self.modalities:
            f = features[m]
            present = f.present.unsqueeze(-1)  # [B, 1]
            missing = self.missing[m].to(f.pooled.dtype).expand_as(f.pooled)  # [B, D_m]
            parts.append(torch.where(present, f.pooled, missing))
        return torch.cat(parts, dim=-1)  # [B, sum D_m]
