"""The key/value cache of :class:`~polymodal.decoders.transformer.TransformerDecoder`.

Shape letters: B = rows (samples x beams), h = heads, L = tokens fed so far, S = memory positions,
dh = head width. Self-attention keys and values grow by the tokens of each step; cross-attention
keys and values of the memory are computed once, when decoding starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class LayerCache:
    """One block's cache: self-attention ``k, v [B, h, L, dh]``, memory ``k, v [B, h, S, dh]``."""

    self_k: Tensor
    self_v: Tensor
    cross_k: Tensor
    cross_v: Tensor

    def select(self, index: Tensor) -> LayerCache:
        return LayerCache(
            self.self_k[index], self.self_v[index], self.cross_k[index], self.cross_v[index]
        )


@dataclass(frozen=True)
class KVCache:
    """Every block's :class:`LayerCache` plus the memory padding mask ``[B, S]`` (True = pad)."""

    layers: tuple[LayerCache, ...]
    memory_padding_mask: Tensor

    @property
    def length(self) -> int:
        """Tokens fed so far (``L``)."""
        return int(self.layers[0].self_k.shape[2]) if self.layers else 0

    def select(self, index: Tensor) -> KVCache:
        """The cache of rows ``index [B']``, in that order (beam reordering and expansion)."""
        return KVCache(
            tuple(layer.select(index) for layer in self.layers), self.memory_padding_mask[index]
        )
