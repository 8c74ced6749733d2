"""Token choice for step-wise decoding: argmax, and sampling with temperature and top-p.

Shape letters: B = rows, V = vocabulary size.
"""

from __future__ import annotations

import torch
from torch import Tensor


def top_p_filter(logits: Tensor, top_p: float) -> Tensor:
    """``logits [B, V]`` with every token outside the nucleus set to ``-inf``.

    The nucleus (Holtzman et al. 2020) is the smallest set of most probable tokens whose total
    probability reaches ``top_p``: sorted by probability, a token is kept while the mass of the
    tokens before it is below ``top_p`` (so the most probable token is always kept).
    """
    if top_p >= 1.0:
        return logits
    ordered, order = logits.sort(dim=-1, descending=True)  # [B, V]
    probs = ordered.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of strictly more probable tokens
    drop_sorted = before >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def greedy_choice(logits: Tensor) -> Tensor:
    """The most probable token of each row, ``[B]`` (the first on ties)."""
    return logits.argmax(dim=-1)


def sample_choice(
    logits: Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> Tensor:
    """One token per row ``[B]`` drawn from ``softmax(logits / temperature)`` restricted to the
    top-p nucleus, with ``generator`` (the only source of randomness)."""
    probs = top_p_filter(logits / temperature, top_p).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
