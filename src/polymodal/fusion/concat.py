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
        norm: a LayerNorm of its own on each modality's block (after the missing embedding is
            put in), so that no modality enters the layers after the fusion at a larger scale.
    """

    def __init__(
        self, in_dims: dict[str, int], task: TaskSpec, init_std: float = 0.02, norm: bool = False
    ) -> None:
        super().__init__(in_dims, task)
        self.out_dim = sum(self.in_dims.values())
        self.missing = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(d) * init_std) for m, d in self.in_dims.items()}
        )
        self.norms = (
            nn.ModuleDict({m: nn.LayerNorm(d) for m, d in self.in_dims.items()}) if norm else None
        )

    def forward(self, features: dict[str, Features]) -> Tensor:
        parts = []
        for m in self.modalities:
            f = features[m]
            present = f.present.unsqueeze(-1)  # [B, 1]
            missing = self.missing[m].to(f.pooled.dtype).expand_as(f.pooled)  # [B, D_m]
            block = torch.where(present, f.pooled, missing)
            parts.append(block if self.norms is None else self.norms[m](block))
        return torch.cat(parts, dim=-1)  # [B, sum D_m]
