"""Two-stream co-attention (ViLBERT): each modality's stream attends to the other stream(s).

Lu et al. 2019, "ViLBERT: Pretraining Task-Agnostic Visiolinguistic Representations for
Vision-and-Language Tasks", NeurIPS (co-attentional transformer layers, section 3.1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features
from polymodal.interaction.base import Interaction
from polymodal.nn import (
    TransformerBlock,
    check_params,
    key_mask,
    masked_mean,
    zero_absent,
    zero_invalid,
)
from polymodal.registry import INTERACTIONS, Dropout, Positive


@INTERACTIONS.register("coattention")
class CoAttentionInteraction(Interaction):
    """ViLBERT-style co-attention streams (Lu et al. 2019), one stream per modality.

    Each modality's tokens ``[B, T_m, D_m]`` are projected to ``d_model``. Each of ``layers``
    layers then updates every stream *simultaneously* from the previous layer's states:

    1. co-attention: the stream's queries attend to the keys/values of the other streams, then a
       feed-forward (a cross-attention :class:`TransformerBlock` with this stream's own weights);
    2. if ``self_attention``: a self-attention block of the stream (ViLBERT's TRM block).

    With more than two modalities, a stream attends to the *concatenation* of the tokens of all
    other modalities (one softmax over all their valid positions), so the order of the other
    modalities does not matter. No positions are added: the encoders' tokens carry their own.

    ``out_dims[m] = d_model``; each stream ends with its own LayerNorm; the new ``pooled`` is the
    mean of the refined tokens over non-padding positions. Keys at padding positions and of
    absent samples are masked (a stream whose others are all absent only gets its residual
    path). Tokens at padding positions and of absent samples are returned as zeros;
    ``present`` and ``padding_mask`` are passed through.

    Args:
        in_dims: modality -> token width (injected); at least two modalities.
        d_model: width of every stream; divisible by ``heads``.
        heads: attention heads.
        layers: co-attention layers.
        self_attention: add a self-attention block after each co-attention block.
        dropout: dropout on attention weights and residual branches.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        d_model: Positive = 32,
        heads: Positive = 4,
        layers: Positive = 1,
        self_attention: bool = True,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims)
        check_params(
            "interaction 'coattention'",
            in_dims=(len(in_dims) >= 2, f"needs at least two modalities, got {list(in_dims)}"),
            d_model=(d_model % heads == 0, "must be divisible by heads"),
        )
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in in_dims.items()})
        self.co = nn.ModuleList(
            nn.ModuleDict(
                {
                    m: TransformerBlock(d_model, heads, kdim=d_model, dropout=dropout)
                    for m in in_dims
                }
            )
            for _ in range(layers)
        )
        self.own = nn.ModuleList(
            nn.ModuleDict({m: TransformerBlock(d_model, heads, dropout=dropout) for m in in_dims})
            for _ in range(layers if self_attention else 0)
        )
        self.norm = nn.ModuleDict({m: nn.LayerNorm(d_model) for m in in_dims})
        self.out_dims = {m: d_model for m in in_dims}

    def _layer(
        self, index: int, states: dict[str, Tensor], features: dict[str, Features]
    ) -> dict[str, Tensor]:
        masks = {m: key_mask(f.padding_mask, f.present) for m, f in features.items()}
        updated: dict[str, Tensor] = {}
        for m in self.in_dims:
            others = [n for n in self.in_dims if n != m]
            context = torch.cat([states[n] for n in others], dim=1)  # [B, sum_n T_n, d_model]
            context_mask = torch.cat([masks[n] for n in others], dim=1)  # [B, sum_n T_n]
            h = self.co[index][m](states[m], context_mask, context=context)  # [B, T_m, d_model]
            if self.own:
                h = self.own[index][m](h, masks[m])
            f = features[m]
            updated[m] = zero_invalid(h, f.padding_mask, f.present)
        return updated

    def forward(self, features: dict[str, Features]) -> dict[str, Features]:
        states = {}
        for m in self.in_dims:
            f = features[m]
            x = self.proj[m](zero_invalid(f.tokens, f.padding_mask, f.present))  # [B, T_m, d]
            states[m] = zero_invalid(x, f.padding_mask, f.present)
        for index in range(len(self.co)):
            states = self._layer(index, states, features)
        out: dict[str, Features] = {}
        for m in self.in_dims:
            f = features[m]
            tokens = zero_invalid(self.norm[m](states[m]), f.padding_mask, f.present)
            pooled = zero_absent(masked_mean(tokens, f.padding_mask), f.present)
            out[m] = Features(tokens, pooled, f.padding_mask, f.present)
        return out
