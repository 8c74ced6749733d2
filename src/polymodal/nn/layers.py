"""Attention building blocks shared by the interaction layers (and attention-based fusions).

Shape letters: B = batch, Tq / Tk = query / key positions, D = width, h = heads, dh = D / h.
Masks follow the project convention: a *key mask* ``[B, Tk]`` is True where a key must be
ignored (padding, or a sample whose modality is absent). Rows whose keys are all masked get all
attention weights exactly 0 (and so an all-zero attention output), never NaN.

The attention is written out (not ``nn.MultiheadAttention`` / ``scaled_dot_product_attention``)
so that all-masked rows are well defined and CPU results are bit-reproducible.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.nn.masking import masked_softmax


def sinusoidal_positions(length: int, dim: int, *, like: Tensor) -> Tensor:
    """Sinusoidal position encodings ``[length, dim]`` (Vaswani et al. 2017), dtype/device of
    ``like``: ``PE[t, 2i] = sin(t / 10000^(2i/dim))``, ``PE[t, 2i+1] = cos(...)``."""
    position = torch.arange(length, dtype=torch.float32, device=like.device)[:, None]  # [T, 1]
    freq = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=like.device) * (-math.log(1e4) / dim)
    )  # [ceil(dim / 2)]
    angles = position * freq  # [T, ceil(dim / 2)]
    pe = torch.zeros(length, dim, dtype=torch.float32, device=like.device)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return pe.to(like.dtype)


class MultiHeadAttention(nn.Module):
    """Masked multi-head attention (Vaswani et al. 2017), self- or cross-attention.

    ``forward(query [B, Tq, d_model], context [B, Tk, kdim], mask [B, Tk]) -> [B, Tq, d_model]``,
    ``Attention(Q, K, V) = softmax(Q K^T / sqrt(dh)) V`` per head, with masked keys (True in
    ``mask``) given weight exactly 0 and all-masked rows giving a zero output.

    Args:
        d_model: query and output width; divisible by ``heads``.
        heads: number of heads.
        kdim: width of the context (keys and values); ``d_model`` when None.
        dropout: dropout on the attention weights.
    """

    def __init__(
        self, d_model: int, heads: int, kdim: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        kdim = d_model if kdim is None else kdim
        self.heads = heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(kdim, d_model)
        self.v = nn.Linear(kdim, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)  # [B, h, T, dh]

    def weights(self, query: Tensor, context: Tensor, mask: Tensor) -> Tensor:
        """Attention weights ``[B, h, Tq, Tk]`` (rows sum to 1, or to 0 when all keys masked)."""
        q, k = self._split(self.q(query)), self._split(self.k(context))  # [B, h, T*, dh]
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # [B, h, Tq, Tk]
        return masked_softmax(scores, mask[:, None, None, :])

    def forward(self, query: Tensor, context: Tensor, mask: Tensor) -> Tensor:
        attn = self.dropout(self.weights(query, context, mask))  # [B, h, Tq, Tk]
        v = self._split(self.v(context))  # [B, h, Tk, dh]
        b, tq = query.shape[:2]
        mixed = (attn @ v).transpose(1, 2).reshape(b, tq, -1)  # [B, Tq, d_model]
        has_keys = ~mask.all(dim=1)[:, None, None]  # [B, 1, 1]
        return torch.where(
            has_keys, self.out(mixed), torch.zeros((), dtype=mixed.dtype, device=mixed.device)
        )


class FeedForward(nn.Module):
    """Position-wise feed-forward ``Linear(D, mult*D) -> GELU -> Linear(mult*D, D)``."""

    def __init__(self, d_model: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, mult * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mult * d_model, d_model),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block, self- or cross-attention.

    Self-attention (``context`` None): ``x = x + Attn(LN(x), LN(x)); x = x + FF(LN(x))``.
    Cross-attention (as in MulT, Tsai et al. 2019, and ViLBERT's co-attention, Lu et al. 2019):
    ``x = x + Attn(LN_q(x), LN_kv(context)); x = x + FF(LN(x))``.

    ``forward(x [B, Tq, d_model], mask [B, Tk], context [B, Tk, kdim] | None) -> [B, Tq, d_model]``
    where ``mask`` marks the keys to ignore (of ``x`` itself for self-attention).

    Args:
        d_model: width of the stream; divisible by ``heads``.
        heads: attention heads.
        kdim: context width for cross-attention (None: self-attention block).
        dropout: dropout on attention weights and residual branches.
    """

    def __init__(
        self, d_model: int, heads: int, kdim: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(kdim) if kdim is not None else None
        self.attn = MultiHeadAttention(d_model, heads, kdim=kdim, dropout=dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, context: Tensor | None = None) -> Tensor:
        q = self.norm_q(x)
        if self.norm_kv is None:
            kv = q
        else:
            if context is None:
                raise ValueError("a cross-attention block needs a context")
            kv = self.norm_kv(context)
        x = x + self.dropout(self.attn(q, kv, mask))
        return x + self.dropout(self.ff(self.norm_ff(x)))


class TransformerEncoder(nn.Module):
    """A stack of self-attention :class:`TransformerBlock` s followed by a final LayerNorm.

    ``forward(x [B, T, d_model], mask [B, T]) -> [B, T, d_model]``; ``mask`` True = key ignored.
    """

    def __init__(self, d_model: int, heads: int, layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, heads, dropout=dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)
