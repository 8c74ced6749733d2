"""Bilinear cross-modal attention: each modality attends to every other one through a learned
bilinear form, and adds the result to its own tokens.

Bilinear attention as in Kim et al. 2018, "Bilinear Attention Networks", NeurIPS (attention
logits ``x^T W y`` between the tokens of two modalities), used here as a residual refinement.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features
from polymodal.interaction.base import Interaction
from polymodal.nn import (
    check_params,
    key_mask,
    masked_mean,
    masked_softmax,
    zero_absent,
    zero_invalid,
)
from polymodal.registry import INTERACTIONS


class BilinearAttention(nn.Module):
    """Attention of a query modality (width ``dq``) over a context modality (width ``dk``).

    ``A = softmax(X W Y^T / sqrt(dq))`` over the context positions (masked keys get weight 0),
    and ``forward`` returns ``A (Y V)`` with ``W [dq, dk]`` and ``V [dk, dq]``:
    ``X [B, Tq, dq], Y [B, Tk, dk], mask [B, Tk] -> [B, Tq, dq]``.
    """

    def __init__(self, dq: int, dk: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dq, dk))
        self.value = nn.Linear(dk, dq, bias=False)
        nn.init.xavier_uniform_(self.weight)

    def weights(self, x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
        """Attention weights ``[B, Tq, Tk]``; rows sum to 1 (0 when every key is masked)."""
        scores = x @ self.weight @ y.transpose(1, 2) / math.sqrt(x.shape[-1])  # [B, Tq, Tk]
        return masked_softmax(scores, mask[:, None, :])

    def forward(self, x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
        return self.weights(x, y, mask) @ self.value(y)  # [B, Tq, dq]


@INTERACTIONS.register("bilinear")
class BilinearInteraction(Interaction):
    """Residual bilinear cross-modal attention between every pair of modalities.

    For each modality ``m`` with tokens ``X_m [B, T_m, D_m]``::

        X_m' = X_m + sum_{n != m} softmax(X_m W_mn X_n^T / sqrt(D_m)) X_n V_mn

    with one ``W_mn [D_m, D_n]`` and ``V_mn [D_n, D_m]`` per ordered pair. Keys at padding
    positions and of samples whose source modality is absent get weight 0 (an absent source adds
    nothing). Widths are kept: ``out_dims == in_dims``. The new ``pooled`` is the mean of the
    refined tokens over non-padding positions. Tokens at padding positions and of absent samples
    are returned as zeros; ``present`` and ``padding_mask`` are passed through.

    Args:
        in_dims: modality -> token width (injected); at least two modalities.
    """

    def __init__(self, in_dims: dict[str, int]) -> None:
        super().__init__(in_dims)
        check_params(
            "interaction 'bilinear'",
            in_dims=(len(in_dims) >= 2, f"needs at least two modalities, got {list(in_dims)}"),
        )
        self.pairs = nn.ModuleDict(
            {
                m: nn.ModuleDict(
                    {n: BilinearAttention(dm, dn) for n, dn in in_dims.items() if n != m}
                )
                for m, dm in in_dims.items()
            }
        )
        self.out_dims = dict(in_dims)

    def forward(self, features: dict[str, Features]) -> dict[str, Features]:
        tokens = {m: zero_invalid(f.tokens, f.padding_mask, f.present) for m, f in features.items()}
        masks = {m: key_mask(f.padding_mask, f.present) for m, f in features.items()}
        out: dict[str, Features] = {}
        for m in self.in_dims:
            f = features[m]
            refined = tokens[m]
            for n, attention in self.pairs[m].items():
                refined = refined + attention(tokens[m], tokens[n], masks[n])  # [B, T_m, D_m]
            refined = zero_invalid(refined, f.padding_mask, f.present)
            pooled = zero_absent(masked_mean(refined, f.padding_mask), f.present)  # [B, D_m]
            out[m] = Features(refined, pooled, f.padding_mask, f.present)
        return out
