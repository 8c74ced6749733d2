"""``generate``: decode a batch of memories with a named strategy (greedy, beam, sample).

Usage::

    from polymodal.decoders.generate import generate
    from polymodal.decoders.options import DecodingOptions

    decoder.eval()  # dropout off: the same seed then gives the same text
    out = generate(decoder, memory, memory_padding_mask,
                   DecodingOptions(strategy="beam", beam_width=4, stop_ids=(eos,)),
                   detokenize=tokenizer.decode)
    out.texts  # one string per sample
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from polymodal.decoders.base import Decoder
from polymodal.decoders.beam import beam_search
from polymodal.decoders.options import DecodingOptions, Generated
from polymodal.decoders.stepwise import greedy, sample
from polymodal.decoders.stopping import Detokenize, Stopping

Strategy = Callable[[Decoder, Tensor, Tensor, DecodingOptions, Stopping], Generated]

STRATEGIES: dict[str, Strategy] = {"greedy": greedy, "beam": beam_search, "sample": sample}
"""Decoding strategies by the name ``DecodingOptions.strategy`` takes."""


def generate(
    decoder: Decoder,
    memory: Tensor,
    memory_padding_mask: Tensor | None = None,
    options: DecodingOptions | None = None,
    detokenize: Detokenize | None = None,
) -> Generated:
    """Decode every sample of ``memory [B, S, D]`` (``memory_padding_mask [B, S]``, True = pad;
    None: no padding), without gradients.

    Samples are independent: a sample's output does not depend on the others of the batch or on
    padding of its memory (greedy and beam; sampling draws from one generator for the batch, so
    its tokens depend on the batch but are the same for the same seed and batch).
    """
    options = options or DecodingOptions()
    if memory_padding_mask is None:
        memory_padding_mask = torch.zeros(memory.shape[:2], dtype=torch.bool, device=memory.device)
    stopping = Stopping(options, detokenize)
    with torch.no_grad():
        return STRATEGIES[options.strategy](decoder, memory, memory_padding_mask, options, stopping)
