"""Single-stream multimodal transformer (MMBT): all modalities' tokens in one sequence.

Kiela et al. 2019, "Supervised Multimodal Bitransformers for Classifying Images and Text"
(MMBT); the single-stream design of VisualBERT (Li et al. 2019) and UNITER (Chen et al. 2020).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features
from polymodal.interaction.base import Interaction
from polymodal.nn import (
    TransformerEncoder,
    check_params,
    key_mask,
    masked_mean,
    sinusoidal_positions,
    zero_absent,
    zero_invalid,
)
from polymodal.registry import INTERACTIONS, Dropout, Positive


@INTERACTIONS.register("single_stream")
class SingleStreamInteraction(Interaction):
    """One transformer over the concatenated tokens of every modality (MMBT, Kiela et al. 2019).

    Each modality's tokens ``[B, T_m, D_m]`` are projected to ``d_model``, then given a learned
    modality (segment) embedding and sinusoidal positions that restart at 0 in each modality
    (MMBT gives each segment its own positions). The sequences are concatenated in modality
    order into ``[B, sum_m T_m, d_model]`` and run through one transformer encoder, so every
    token can attend to every token of every modality; the result is split back per modality.

    ``out_dims[m] = d_model``; the new ``pooled`` is the mean of each modality's refined tokens
    over its non-padding positions. Keys at padding positions and of absent modalities are
    masked, so an absent modality does not influence the others. Tokens at padding positions and
    of absent samples are returned as zeros; ``present`` and ``padding_mask`` are passed through.

    The encoder is built by :meth:`build_encoder` from zero. That method is the hook for a
    pretrained text transformer (MMBT starts from BERT): override it to return any module mapping
    ``(x [B, L, d_model], key_mask [B, L]) -> [B, L, d_model]`` (key_mask True = ignore). No
    pretrained option exists yet.

    Args:
        in_dims: modality -> token width (injected); one modality is allowed (plain encoder).
        d_model: transformer width; divisible by ``heads``.
        heads: attention heads.
        layers: transformer blocks.
        dropout: dropout on attention weights and residual branches.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        d_model: Positive = 32,
        heads: Positive = 4,
        layers: Positive = 2,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims)
        check_params(
            "interaction 'single_stream'",
            d_model=(d_model % heads == 0, "must be divisible by heads"),
        )
        self.d_model = d_model
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in in_dims.items()})
        self.segment = nn.Embedding(len(in_dims), d_model)
        self.encoder = self.build_encoder(d_model, heads, layers, dropout)
        self.out_dims = {m: d_model for m in in_dims}

    def build_encoder(self, d_model: int, heads: int, layers: int, dropout: float) -> nn.Module:
        """The shared encoder: ``(x [B, L, d_model], key_mask [B, L]) -> [B, L, d_model]``.

        Override to plug in a pretrained transformer; this default is trained from zero.
        """
        return TransformerEncoder(d_model, heads, layers, dropout)

    def embed(self, index: int, modality: str, f: Features) -> Tensor:
        """Token + segment + position embeddings of one modality ``[B, T_m, d_model]``."""
        x = self.proj[modality](zero_invalid(f.tokens, f.padding_mask, f.present))
        x = x + self.segment.weight[index] + sinusoidal_positions(x.shape[1], self.d_model, like=x)
        return zero_invalid(x, f.padding_mask, f.present)  # [B, T_m, d_model]

    def forward(self, features: dict[str, Features]) -> dict[str, Features]:
        order = list(self.in_dims)
        sequence = torch.cat(
            [self.embed(i, m, features[m]) for i, m in enumerate(order)], dim=1
        )  # [B, L = sum_m T_m, d_model]
        mask = torch.cat(
            [key_mask(features[m].padding_mask, features[m].present) for m in order], dim=1
        )  # [B, L]
        encoded = self.encoder(sequence, mask)  # [B, L, d_model]
        lengths = [features[m].tokens.shape[1] for m in order]
        out: dict[str, Features] = {}
        for m, tokens in zip(order, torch.split(encoded, lengths, dim=1), strict=True):
            f = features[m]
            tokens = zero_invalid(tokens, f.padding_mask, f.present)  # [B, T_m, d_model]
            pooled = zero_absent(masked_mean(tokens, f.padding_mask), f.present)
            out[m] = Features(tokens, pooled, f.padding_mask, f.present)
        return out
