"""``transformer_decoder``: a Transformer decoder trained from zero that cross-attends to memory.

The decoder of Vaswani et al. 2017 in pre-LayerNorm form (as GPT-2 and most later decoders):
token embedding plus sinusoidal positions, then per block::

    x = x + SelfAttn(LN_1(x))                  # causal: position t sees positions <= t
    x = x + CrossAttn(LN_2(x), LN_m(memory))   # memory padding ignored
    x = x + FF(LN_3(x))

and a final LayerNorm and the output projection to the vocabulary, optionally tied to the token
embedding (Press & Wolf 2017). Shape letters as in :mod:`polymodal.decoders.base`; h = heads,
dh = d_model / heads.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.decoders.base import Decoder, DecoderState
from polymodal.decoders.cache import KVCache, LayerCache
from polymodal.nn import FeedForward, MultiHeadAttention, check_params, sinusoidal_positions
from polymodal.nn.masking import masked_softmax
from polymodal.registry import DECODERS, Dropout, Positive


def _heads(x: Tensor, heads: int) -> Tensor:
    b, t, d = x.shape
    return x.reshape(b, t, heads, d // heads).transpose(1, 2)  # [B, h, T, dh]


def _attend(attn: MultiHeadAttention, query: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """``attn`` applied to ``query [B, n, D]`` with precomputed ``k, v [B, h, Lk, dh]``; ``mask``
    broadcasts to ``[B, h, n, Lk]`` (True = ignore). Rows with every key masked give zeros, as
    :class:`~polymodal.nn.MultiHeadAttention` does."""
    q = _heads(attn.q(query), attn.heads)  # [B, h, n, dh]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # [B, h, n, Lk]
    weights = attn.dropout(masked_softmax(scores, mask))
    b, n = query.shape[:2]
    mixed = (weights @ v).transpose(1, 2).reshape(b, n, -1)  # [B, n, D]
    has_keys = ~mask.all(dim=-1)[:, 0, :, None]  # [B or 1, n or 1, 1]
    return torch.where(has_keys, attn.out(mixed), mixed.new_zeros(()))


class DecoderBlock(nn.Module):
    """Pre-LN block: causal self-attention, cross-attention to memory, feed-forward."""

    def __init__(self, d_model: int, heads: int, memory_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, heads, dropout=dropout)
        self.norm_cross = nn.LayerNorm(d_model)
        self.norm_memory = nn.LayerNorm(memory_dim)
        self.cross_attn = MultiHeadAttention(d_model, heads, kdim=memory_dim, dropout=dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def start(self, memory: Tensor, batch_empty: Tensor) -> LayerCache:
        """Cache with the memory's keys and values and no token: ``batch_empty [B, h, 0, dh]``."""
        kv = self.norm_memory(memory)
        heads = self.cross_attn.heads
        k, v = _heads(self.cross_attn.k(kv), heads), _heads(self.cross_attn.v(kv), heads)
        return LayerCache(batch_empty, batch_empty, k, v)

    def forward(
        self, x: Tensor, cache: LayerCache, causal: Tensor, memory_mask: Tensor
    ) -> tuple[Tensor, LayerCache]:
        """``x [B, n, D]`` after ``L`` cached tokens; ``causal [n, L + n]`` True = future key."""
        q = self.norm_self(x)
        heads = self.self_attn.heads
        k = torch.cat([cache.self_k, _heads(self.self_attn.k(q), heads)], dim=2)  # [B,h,L+n,dh]
        v = torch.cat([cache.self_v, _heads(self.self_attn.v(q), heads)], dim=2)
        x = x + self.dropout(_attend(self.self_attn, q, k, v, causal[None, None]))
        cross = _attend(
            self.cross_attn, self.norm_cross(x), cache.cross_k, cache.cross_v, memory_mask
        )
        x = x + self.dropout(cross)
        x = x + self.dropout(self.ff(self.norm_ff(x)))
        return x, LayerCache(k, v, cache.cross_k, cache.cross_v)


@DECODERS.register("transformer_decoder")
class TransformerDecoder(Decoder):
    """Transformer decoder from zero: causal self-attention, cross-attention to memory, pre-LN.

    Args:
        memory_dim: width ``D`` of the memory tokens (injected).
        vocab_size: output vocabulary size ``V`` (injected).
        d_model: width of the decoder stream; divisible by ``heads``.
        heads: attention heads.
        layers: decoder blocks.
        dropout: dropout on attention weights, residual branches and the embedded input.
        tie_embeddings: output projection = token embedding transposed (no separate weights).
    """

    def __init__(
        self,
        memory_dim: int,
        vocab_size: int,
        d_model: Positive = 256,
        heads: Positive = 4,
        layers: Positive = 3,
        dropout: Dropout = 0.1,
        tie_embeddings: bool = True,
    ) -> None:
        super().__init__()
        check_params(
            "decoder 'transformer_decoder'",
            heads=(d_model % heads == 0, "must divide d_model"),
            vocab_size=(vocab_size >= 1, "must be >= 1"),
        )
        self.memory_dim, self.vocab_size, self.d_model, self.heads = (
            memory_dim,
            vocab_size,
            d_model,
            heads,
        )
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=d_model**-0.5)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            DecoderBlock(d_model, heads, memory_dim, dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.proj = None if tie_embeddings else nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, memory: Tensor, memory_padding_mask: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced logits ``[B, T, V]`` of input ``tokens [B, T]``."""
        logits, _ = self._cached_step(tokens, self.start(memory, memory_padding_mask))
        return logits

    def start(
        self, memory: Tensor, memory_padding_mask: Tensor, *, use_cache: bool = True
    ) -> DecoderState:
        """An empty :class:`KVCache` holding the memory's keys and values (or, with
        ``use_cache=False``, the base class's recompute-everything state)."""
        if not use_cache:
            return super().start(memory, memory_padding_mask, use_cache=False)
        dh = self.d_model // self.heads
        empty = self.embed.weight.new_zeros((memory.shape[0], self.heads, 0, dh))
        layers = tuple(block.start(memory, empty) for block in self.blocks)
        return KVCache(layers, memory_padding_mask)

    def _cached_step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, KVCache]:
        assert isinstance(state, KVCache)
        past, n = state.length, tokens.shape[1]
        x = self.embed(tokens)  # [B, n, D]
        x = x + sinusoidal_positions(past + n, self.d_model, like=x)[past:]
        x = self.drop(x)
        rows = torch.arange(n, device=tokens.device)[:, None] + past  # absolute query positions
        causal = torch.arange(past + n, device=tokens.device)[None, :] > rows  # [n, L + n]
        memory_mask = state.memory_padding_mask[:, None, None, :]  # [B, 1, 1, S]
        layers = []
        for block, cache in zip(self.blocks, state.layers, strict=True):
            x, cache = block(x, cache, causal, memory_mask)
            layers.append(cache)
        h = self.norm(x)
        logits = h @ self.embed.weight.T if self.proj is None else self.proj(h)  # [B, n, V]
        return logits, KVCache(tuple(layers), state.memory_padding_mask)
