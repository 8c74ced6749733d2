"""The decoding state of ``causal_lm``: the Hugging Face KV cache behind the step contract.

Shape letters: B = rows (samples x beams), P = prefix positions (memory + prompt), L = tokens fed
so far. transformers' dynamic caches grow *in place* (``update`` rebinds each layer's key and
value tensors to longer ones), while the step contract leaves the old state unchanged. So a step
runs on :func:`fork` of the cache: a new cache object whose layers share the old tensors; the
model's update rebinds the new layers only, and the old state still holds its shorter tensors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from torch import Tensor


def fork(cache: Any) -> Any:
    """A shallow copy of a Hugging Face cache whose per-layer containers are new objects (the
    key / value tensors are shared, not copied)."""
    clone = copy.copy(cache)
    if hasattr(cache, "layers"):  # transformers >= 4.56: one object per layer
        clone.layers = [copy.copy(layer) for layer in cache.layers]
    else:  # older DynamicCache: lists of tensors per layer
        clone.key_cache, clone.value_cache = list(cache.key_cache), list(cache.value_cache)
    return clone


@dataclass(frozen=True)
class CausalLMState:
    """What ``causal_lm`` carries between steps.

    Attributes:
        cache: the Hugging Face cache of every position fed so far (prefix and tokens); never
            changed in place (see the module docstring).
        attention_mask: ``[B, P + L]`` (1 = attend, 0 = memory padding), the 2-D mask
            transformers expects, covering the cached positions.
        next_position: ``[B]`` position id of the next token: the number of attended positions
            so far, so padding in the memory does not shift the positions of the text.
        prefix: ``P``, the positions before the first token fed.
    """

    cache: Any
    attention_mask: Tensor
    next_position: Tensor
    prefix: int

    @property
    def length(self) -> int:
        """Tokens fed so far (``L``)."""
        return int(self.attention_mask.shape[1]) - self.prefix

    def select(self, index: Tensor) -> CausalLMState:
        """The state of rows ``index [B']`` (int64), in that order."""
        cache = fork(self.cache)
        if self.attention_mask.shape[1] > 0:
            cache.reorder_cache(index.to(self.attention_mask.device))
        return CausalLMState(
            cache, self.attention_mask[index], self.next_position[index], self.prefix
        )
