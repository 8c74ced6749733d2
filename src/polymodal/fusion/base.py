"""The fusion contract and helpers shared by fusion methods."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec


class Fusion(nn.Module):
    """Combines per-modality features into one vector per sample.

    Subclasses take ``in_dims`` (modality name -> feature width, in a fixed order) and ``task``
    (injected by the builder) plus their own keyword parameters, set ``out_dim``, and implement
    ``forward(features: dict[str, Features]) -> Tensor [B, out_dim]``. They must work for any
    number of modalities and honour ``Features.present``: an absent modality's values are not data.

    A fusion with ``owns_head = True`` (late fusion) produces the task output itself
    (``out_dim == task.num_outputs``); the model then puts no separate head after it.
    """

    out_dim: int
    owns_head: bool = False

    def __init__(self, in_dims: dict[str, int], task: TaskSpec) -> None:
        super().__init__()
        if not in_dims:
            raise ValueError("a fusion needs at least one modality")
        self.modalities = list(in_dims)
        self.in_dims = dict(in_dims)
        self.task = task

    def forward(self, features: dict[str, Features]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_with_extras(
        self, features: dict[str, Features]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The fused tensor and named intermediate outputs (e.g. late fusion's per-modality
        outputs) that the model exposes in ``ModelOutput.extras``. Default: no extras."""
        return self(features), {}


def presence_matrix(features: dict[str, Features], order: list[str]) -> Tensor:
    """Stack presence flags into float ``[B, M]`` (1.0 where present), in ``order``."""
    return torch.stack([features[m].present for m in order], dim=1).float()
