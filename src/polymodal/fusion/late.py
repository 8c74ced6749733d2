"""Late fusion: one head per modality, outputs averaged over the present modalities."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, TaskSpec
from polymodal.fusion.base import Fusion, presence_matrix
from polymodal.heads.classification import mlp_head
from polymodal.nn import present_mean
from polymodal.registry import FUSIONS, Dropout, Positive


@FUSIONS.register("late")
class LateFusion(Fusion):
    """Late fusion (decision-level): a small head per modality maps ``pooled [B, D_m]`` to the
    task output ``y_m [B, K]`` (``K = task.num_outputs``), and the fused output is the mean over
    *present* modalities ``y_b = sum_m p_bm y_bm / max(1, sum_m p_bm)`` (averaged logits for
    classification; a sample with no modality present gets zeros).

    The fusion owns the head (``owns_head = True``): the model puts no head after it and decodes
    its output with the task's loss and decoding. :meth:`forward_with_extras` also returns each
    modality's output, which the model exposes as ``ModelOutput.extras["output/<modality>"]``
    (an absent modality's entry is computed from non-data and excluded from the mean).
    Since the output is a sum of per-modality terms, late fusion cannot represent interactions
    between modalities (e.g. an XOR of two modalities' attributes).

    Args:
        in_dims: modality name -> feature width (injected).
        task: the task (injected); sets the output width.
        hidden_dim: hidden width of each per-modality head (None: a linear head).
        dropout: dropout inside each per-modality head.
    """

    owns_head = True

    def __init__(
        self,
        in_dims: dict[str, int],
        task: TaskSpec,
        hidden_dim: Positive | None = 64,
        dropout: Dropout = 0.1,
    ) -> None:
        super().__init__(in_dims, task)
        self.out_dim = task.num_outputs
        self.heads = nn.ModuleDict(
            {m: mlp_head(d, task.num_outputs, hidden_dim, dropout) for m, d in self.in_dims.items()}
        )

    def forward_with_extras(
        self, features: dict[str, Features]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The fused output ``[B, K]`` and ``{"output/<modality>": [B, K]}``."""
        present = presence_matrix(features, self.modalities)  # [B, M]
        outputs = {m: self.heads[m](features[m].pooled) for m in self.modalities}
        stacked = torch.stack([outputs[m] for m in self.modalities], dim=1)  # [B, M, K]
        fused = present_mean(stacked, present)  # [B, K]
        return fused, {f"output/{m}": y for m, y in outputs.items()}

    def forward(self, features: dict[str, Features]) -> Tensor:
        return self.forward_with_extras(features)[0]
