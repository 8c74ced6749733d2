"""Masking helpers shared by encoders, interaction layers and fusions.

Shape letters: B = batch, T = positions, D = width, M = modalities. Masks follow the project
convention: ``padding_mask[b, t]`` is True where position ``t`` of sample ``b`` is *padding*, and
a *key mask* ``[B, T]`` is True where a key must be ignored (padding, or every position of a
sample whose modality is absent). Helpers that drop values use ``torch.where`` (not a product) so
that non-finite values there cannot leak, not even into gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor


def key_mask(padding_mask: Tensor, present: Tensor) -> Tensor:
    """Keys to ignore, bool ``[B, T]``: padding positions and every position of absent samples."""
    return padding_mask | ~present[:, None]


def valid_positions(padding_mask: Tensor, present: Tensor) -> Tensor:
    """Positions that hold data, bool ``[B, T]`` (the complement of :func:`key_mask`)."""
    return ~key_mask(padding_mask, present)


def zero_absent(values: Tensor, present: Tensor) -> Tensor:
    """``values [B, ...]`` with the rows of absent samples (``present [B]`` False) set to 0."""
    keep = present.reshape(-1, *([1] * (values.dim() - 1)))  # [B, 1, ...]
    return torch.where(keep, values, torch.zeros((), dtype=values.dtype, device=values.device))


def zero_invalid(tokens: Tensor, padding_mask: Tensor, present: Tensor) -> Tensor:
    """``tokens [B, T, D]`` with padding positions and absent samples set to exactly 0."""
    keep = valid_positions(padding_mask, present)[..., None]  # [B, T, 1]
    return torch.where(keep, tokens, torch.zeros((), dtype=tokens.dtype, device=tokens.device))


def zero_padding(x: Tensor, padding_mask: Tensor | None) -> Tensor:
    """``x [B, T, ...]`` with every padding position set to exactly zero (a product: padding
    values of encoder inputs are finite)."""
    if padding_mask is None:
        return x
    keep = (~padding_mask).to(x.dtype)  # [B, T]
    return x * keep.reshape(*keep.shape, *([1] * (x.dim() - 2)))  # [B, T, 1, ...]


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax of ``scores`` along ``dim`` ignoring entries where ``mask`` is True.

    ``mask`` must broadcast to ``scores``. Masked entries get weight exactly 0; a slice whose
    entries are all masked gets all-zero weights (not NaN), so it contributes nothing.
    """
    mask = mask.expand_as(scores)
    empty = mask.all(dim=dim, keepdim=True)
    scores = scores.masked_fill(mask, float("-inf"))
    scores = scores.masked_fill(empty, 0.0)  # finite placeholder for empty slices, zeroed below
    return torch.softmax(scores, dim=dim).masked_fill(empty, 0.0)


def masked_mean(tokens: Tensor, padding_mask: Tensor | None) -> Tensor:
    """Mean of ``tokens [B, T, D]`` over the non-padding positions -> ``[B, D]``.

    ``mean_b = sum_t [not padding_bt] x_bt / max(1, #valid_b)``: padding contributes nothing, so
    appending padding never changes the result, and a row with no valid position gives zeros
    rather than NaN. ``padding_mask`` None: the plain mean over ``T``.
    """
    if padding_mask is None:
        return tokens.mean(dim=1)
    valid = (~padding_mask).to(tokens.dtype)[..., None]  # [B, T, 1]
    return (tokens * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)


def present_mean(values: Tensor, present: Tensor) -> Tensor:
    """Mean of ``values [B, M, D]`` over the present entries -> ``[B, D]``.

    ``present [B, M]`` (bool or 0/1 float) marks which of the ``M`` entries (e.g. modalities) of a
    sample hold data; absent entries are dropped with ``torch.where``, and a sample with none
    present gives zeros.
    """
    keep = present.unsqueeze(-1) > 0  # [B, M, 1]
    total = torch.where(keep, values, 0.0).sum(dim=1)  # [B, D]
    return total / present.float().sum(dim=1, keepdim=True).clamp(min=1.0)


def last_valid(tokens: Tensor, padding_mask: Tensor) -> Tensor:
    """State at the last non-padding position of each row of ``tokens [B, T, D]`` -> ``[B, D]``.

    Assumes right padding (what the collate function produces); a row with no valid position
    gives position 0.
    """
    lengths = (~padding_mask).sum(dim=1)  # [B]
    index = (lengths - 1).clamp(min=0)  # [B]
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    return tokens[rows, index]  # [B, D]


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
