"""The decoder contract: teacher-forced logits, and an incremental step API for decoding.

Shape letters: B = batch (samples, or samples x beams while decoding), S = memory positions,
D = memory width, T = target positions, n = tokens fed in one step, V = vocabulary size.

A decoder reads a *memory*: the fused / encoded token sequence ``memory [B, S, D]`` with
``memory_padding_mask [B, S]`` (True = padding, the project's convention), and writes tokens.

- ``forward(memory, memory_padding_mask, tokens [B, T]) -> logits [B, T, V]``: teacher forcing;
  ``logits[:, t]`` scores the token that follows ``tokens[:, : t + 1]`` and depends on no token
  after ``t`` (causality). ``tokens`` are the decoder *inputs*: :func:`shift_right` builds them
  from targets.
- ``start(memory, memory_padding_mask, use_cache=True) -> DecoderState`` then repeatedly
  ``step(tokens [B, n], state) -> (logits [B, n, V], state)``: the same logits as ``forward`` on
  the whole prefix fed so far. A decoder with a KV cache overrides :meth:`Decoder.start` and
  :meth:`Decoder._cached_step`; every decoder gets :class:`PrefixState` (recompute the whole prefix
  each step) for free, which is also the reference the cache is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self

import torch
from torch import Tensor, nn


class DecoderState(Protocol):
    """What a decoder carries between steps; rows follow the batch."""

    @property
    def length(self) -> int:
        """Number of tokens fed so far (the same for every row)."""
        ...

    def select(self, index: Tensor) -> Self:
        """The state of rows ``index [B']`` (int64), in that order (beam reordering, expansion)."""
        ...


@dataclass(frozen=True)
class PrefixState:
    """No cache: the memory and every token fed so far, ``tokens [B, L]``."""

    memory: Tensor
    memory_padding_mask: Tensor
    tokens: Tensor

    @property
    def length(self) -> int:
        return int(self.tokens.shape[1])

    def select(self, index: Tensor) -> PrefixState:
        return PrefixState(self.memory[index], self.memory_padding_mask[index], self.tokens[index])


class Decoder(nn.Module):
    """Base class of every registered decoder; subclasses set ``vocab_size`` and ``memory_dim``
    and implement :meth:`forward` (and, with a KV cache, :meth:`start` / :meth:`_cached_step`)."""

    vocab_size: int
    memory_dim: int

    def forward(
        self, memory: Tensor, memory_padding_mask: Tensor, tokens: Tensor
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(
        self, memory: Tensor, memory_padding_mask: Tensor, *, use_cache: bool = True
    ) -> DecoderState:
        """A state with no token fed yet. The base class has no cache: :class:`PrefixState`."""
        empty = torch.zeros((memory.shape[0], 0), dtype=torch.long, device=memory.device)
        return PrefixState(memory, memory_padding_mask, empty)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """Feed ``tokens [B, n]`` after the prefix of ``state``: logits ``[B, n, V]`` and the new
        state (the old one is not changed)."""
        if isinstance(state, PrefixState):
            prefix = torch.cat([state.tokens, tokens], dim=1)  # [B, L + n]
            logits = self(state.memory, state.memory_padding_mask, prefix)  # [B, L + n, V]
            new = PrefixState(state.memory, state.memory_padding_mask, prefix)
            return logits[:, -tokens.shape[1] :], new
        return self._cached_step(tokens, state)

    def _cached_step(
        self, tokens: Tensor, state: DecoderState
    ) -> tuple[Tensor, DecoderState]:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no KV cache")


def shift_right(targets: Tensor, bos_id: int) -> Tensor:
    """Teacher-forcing inputs from ``targets [B, T]``: ``[bos, y_0, ..., y_{T-2}]`` ``[B, T]``, so
    that ``forward(..., shift_right(y, bos))[:, t]`` predicts ``y[:, t]``."""
    bos = torch.full_like(targets[:, :1], bos_id)
    return torch.cat([bos, targets[:, :-1]], dim=1)
