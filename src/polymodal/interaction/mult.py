"""Multimodal Transformer (MulT): crossmodal attention between unaligned sequences.

Tsai et al. 2019, "Multimodal Transformer for Unaligned Multimodal Language Sequences", ACL.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features
from polymodal.interaction.base import Interaction
from polymodal.nn import (
    TransformerBlock,
    TransformerEncoder,
    check_params,
    key_mask,
    last_valid,
    sinusoidal_positions,
    zero_absent,
    zero_invalid,
)
from polymodal.registry import INTERACTIONS, Dropout, NonNegative, Positive


class CrossmodalTransformer(nn.Module):
    """``layers`` crossmodal blocks ``source -> target`` (MulT, Tsai et al. 2019, section 3.2).

    Every block attends from the current target states to the same (layer-normed) source
    sequence: ``forward(target [B, T_t, D], source [B, T_s, D], source_mask [B, T_s])
    -> [B, T_t, D]``, ending with a LayerNorm. Source and target lengths may differ.
    """

    def __init__(self, d_model: int, heads: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, heads, kdim=d_model, dropout=dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, target: Tensor, source: Tensor, source_mask: Tensor) -> Tensor:
        for block in self.blocks:
            target = block(target, source_mask, context=source)
        return self.norm(target)


@INTERACTIONS.register("mult")
class MulTInteraction(Interaction):
    """Multimodal Transformer (Tsai et al. 2019) for any number of modalities.

    1. Each modality's tokens ``[B, T_m, D_m]`` are projected to ``d_model`` by a 1-D temporal
       convolution (``kernel_size`` 1 is a per-position linear map; padding positions are zeroed
       first, so they act like the convolution's own zero padding), scaled by ``sqrt(d_model)``
       and given sinusoidal positions, as in the paper.
    2. For each target ``m`` and each other (source) modality ``n``, a
       :class:`CrossmodalTransformer` of ``layers`` blocks lets ``m`` attend to ``n`` (query =
       target, key/value = source; the sequences need not be aligned nor of equal length).
    3. The ``M - 1`` results for target ``m`` are concatenated, ``[B, T_m, d_model * (M - 1)]``,
       and run through ``self_layers`` self-attention blocks.

    ``out_dims[m] = d_model * (M - 1)``. The new ``pooled`` is the state at the last non-padding
    position (the paper's "last element"; collate right-pads). Keys at padding positions and of
    absent samples are masked, so an absent source adds nothing to the target beyond its
    residual path, and extending a source's padding leaves every target unchanged. Tokens at
    padding positions and of absent samples are returned as zeros; ``present`` and
    ``padding_mask`` are passed through.

    Args:
        in_dims: modality -> token width (injected); at least two modalities.
        d_model: common width of the crossmodal streams; divisible by ``heads``.
        heads: attention heads.
        layers: crossmodal blocks per (source, target) pair.
        self_layers: self-attention blocks on each target's concatenated streams.
        kernel_size: odd width of the temporal convolution of the input projection.
        dropout: dropout on attention weights and residual branches.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        d_model: Positive = 32,
        heads: Positive = 4,
        layers: Positive = 2,
        self_layers: NonNegative = 1,
        kernel_size: Positive = 1,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dims)
        check_params(
            "interaction 'mult'",
            in_dims=(len(in_dims) >= 2, f"needs at least two modalities, got {list(in_dims)}"),
            d_model=(d_model % heads == 0, "must be divisible by heads"),
            kernel_size=(kernel_size % 2 == 1, "must be odd"),
        )
        self.d_model = d_model
        self.proj = nn.ModuleDict(
            {
                m: nn.Conv1d(d, d_model, kernel_size, padding=kernel_size // 2, bias=False)
                for m, d in in_dims.items()
            }
        )
        self.cross = nn.ModuleDict(
            {
                m: nn.ModuleDict(
                    {
                        n: CrossmodalTransformer(d_model, heads, layers, dropout)
                        for n in in_dims
                        if n != m
                    }
                )
                for m in in_dims
            }
        )
        width = d_model * (len(in_dims) - 1)
        self.self_attention = nn.ModuleDict(
            {m: TransformerEncoder(width, heads, self_layers, dropout) for m in in_dims}
        )
        self.out_dims = {m: width for m in in_dims}

    def embed(self, modality: str, f: Features) -> Tensor:
        """Projected tokens with positions ``[B, T_m, d_model]`` (zeros at invalid positions)."""
        x = zero_invalid(f.tokens, f.padding_mask, f.present).transpose(1, 2)  # [B, D_m, T_m]
        x = self.proj[modality](x).transpose(1, 2)  # [B, T_m, d_model]
        x = math.sqrt(self.d_model) * x + sinusoidal_positions(x.shape[1], self.d_model, like=x)
        return zero_invalid(x, f.padding_mask, f.present)

    def forward(self, features: dict[str, Features]) -> dict[str, Features]:
        embedded = {m: self.embed(m, features[m]) for m in self.in_dims}
        masks = {m: key_mask(f.padding_mask, f.present) for m, f in features.items()}
        out: dict[str, Features] = {}
        for m in self.in_dims:
            f = features[m]
            streams = [
                cross(embedded[m], embedded[n], masks[n]) for n, cross in self.cross[m].items()
            ]  # M - 1 tensors [B, T_m, d_model]
            h = self.self_attention[m](
                torch.cat(streams, dim=-1), masks[m]
            )  # [B, T_m, d_model * (M - 1)]
            h = zero_invalid(h, f.padding_mask, f.present)
            pooled = zero_absent(last_valid(h, f.padding_mask), f.present)
            out[m] = Features(h, pooled, f.padding_mask, f.present)
        return out
