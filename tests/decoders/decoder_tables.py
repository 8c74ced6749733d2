"""A hand-built decoder for decoding tests: next-token probabilities looked up by prefix.

``PrefixTable(table)`` gives, after the fed prefix ``(BOS, y_1, ..., y_t)``, the probabilities of
``table[prefix]`` (token -> probability; tokens not listed get probability 0, i.e. logit
``-inf``); a prefix not in the table stops for certain (EOS). The memory is ignored.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from polymodal.decoders.base import Decoder

PAD, BOS, EOS, A, B, C = 0, 1, 2, 3, 4, 5
VOCAB = 6


class PrefixTable(Decoder):
    def __init__(self, table: dict[tuple[int, ...], dict[int, float]]) -> None:
        super().__init__()
        self.table, self.vocab_size, self.memory_dim = table, VOCAB, 1

    def forward(self, memory: Tensor, memory_padding_mask: Tensor, tokens: Tensor) -> Tensor:
        logits = torch.full((*tokens.shape, VOCAB), float("-inf"))
        for b, row in enumerate(tokens.tolist()):
            for t in range(len(row)):
                probs = self.table.get(tuple(row[: t + 1]), {EOS: 1.0})
                for token, p in probs.items():
                    logits[b, t, token] = math.log(p)
        return logits


def no_memory(batch: int = 1) -> tuple[Tensor, Tensor]:
    """A one-position memory and its (all-valid) padding mask."""
    return torch.zeros(batch, 1, 1), torch.zeros(batch, 1, dtype=torch.bool)
