"""Masked pooling and mask helpers shared by the encoders.

Masks follow the project convention: ``padding_mask[b, t]`` is True where position ``t`` of sample
``b`` is *padding*.
"""

from __future__ import annotations

import torch
from torch import Tensor


def masked_mean(tokens: Tensor, padding_mask: Tensor | None) -> Tensor:
    """Mean of ``tokens [B, T, D]`` over the non-padding positions -> ``[B, D]``.

    Padding positions contribute nothing, so appending padding never changes the result. A row
    with no valid position (which collate never produces) gives zeros rather than NaN.
    """
    if padding_mask is None:
        return tokens.mean(dim=1)
    valid = (~padding_mask).to(tokens.dtype).unsqueeze(-1)  # [B, T, 1]
    total = (tokens * valid).sum(dim=1)  # [B, D]
    count = valid.sum(dim=1).clamp(min=1.0)  # [B, 1]
    return total / count


def zero_padding(x: Tensor, padding_mask: Tensor | None) -> Tensor:
    """``x [B, T, ...]`` with every padding position set to exactly zero."""
    if padding_mask is None:
        return x
    keep = (~padding_mask).to(x.dtype)  # [B, T]
    return x * keep.reshape(*keep.shape, *([1] * (x.dim() - 2)))  # [B, T, 1, ...]


def lengths_of(padding_mask: Tensor | None, batch: int, time: int, device: torch.device) -> Tensor:
    """Number of non-padding positions per sample, int64 ``[B]``, at least 1.

    Assumes right padding (what :func:`polymodal.data.collate.collate_modality` produces).
    """
    if padding_mask is None:
        return torch.full((batch,), time, dtype=torch.long, device=device)
    return (~padding_mask).sum(dim=1).clamp(min=1).long()


def no_padding(batch: int, time: int, device: torch.device) -> Tensor:
    """An all-False padding mask ``[B, T]`` (every position is data)."""
    return torch.zeros((batch, time), dtype=torch.bool, device=device)
