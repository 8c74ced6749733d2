"""Greedy decoding and sampling: one token per sample per step, batched, with the KV cache.

Every sample of the batch advances one token per step; a sample that stops is dropped from the
batch (its rows of the decoder state too), so finished samples cost nothing and cannot change
the others. Shape letters: B = samples still decoding, S = memory positions, V = vocabulary size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from polymodal.decoders.base import Decoder
from polymodal.decoders.options import DecodingOptions, FinishReason, Generated
from polymodal.decoders.sampling import greedy_choice, sample_choice
from polymodal.decoders.stopping import Stopping

Choose = Callable[[Tensor], Tensor]
"""Logits ``[B, V]`` of the next token -> the chosen token of each row ``[B]``."""


def decode_stepwise(
    decoder: Decoder,
    memory: Tensor,
    memory_padding_mask: Tensor,
    options: DecodingOptions,
    stopping: Stopping,
    choose: Choose,
) -> Generated:
    """Decode ``memory [B, S, D]`` token by token with ``choose`` (argmax, or a draw)."""
    batch = memory.shape[0]
    state = decoder.start(memory, memory_padding_mask, use_cache=options.use_cache)
    rows = torch.arange(batch, device=memory.device)  # sample of each live row
    feed = torch.full((batch, 1), options.bos_id, dtype=torch.long, device=memory.device)
    tokens: list[list[int]] = [[] for _ in range(batch)]
    scores = [0.0] * batch
    finish: list[FinishReason] = ["length"] * batch
    for _ in range(options.max_new_tokens):
        logits, state = decoder.step(feed, state)
        last = logits[:, -1].float()  # [B, V]
        chosen = choose(last)  # [B]
        logp = last.log_softmax(dim=-1).gather(1, chosen[:, None]).squeeze(1)  # [B]
        keep = []
        for i, (sample, token, lp) in enumerate(
            zip(rows.tolist(), chosen.tolist(), logp.tolist(), strict=True)
        ):
            tokens[sample].append(token)
            scores[sample] += lp
            reason = stopping.reason(tokens[sample])
            if reason is None:
                keep.append(i)
            else:
                finish[sample] = reason
        if not keep:
            break
        if len(keep) < len(rows):
            index = torch.tensor(keep, dtype=torch.long, device=memory.device)
            state, rows, chosen = state.select(index), rows[index], chosen[index]
        feed = chosen[:, None]
    return _outputs(tokens, scores, finish, stopping)


def _outputs(
    tokens: list[list[int]], scores: list[float], finish: list[FinishReason], stopping: Stopping
) -> Generated:
    kept, texts = zip(
        *(stopping.output(t, r) for t, r in zip(tokens, finish, strict=True)), strict=True
    )
    has_text = stopping.detokenize is not None
    return Generated(list(kept), scores, finish, list(texts) if has_text else None)


def greedy(
    decoder: Decoder,
    memory: Tensor,
    memory_padding_mask: Tensor,
    options: DecodingOptions,
    stopping: Stopping,
) -> Generated:
    """Greedy decoding: the most probable token at every step."""
    return decode_stepwise(decoder, memory, memory_padding_mask, options, stopping, greedy_choice)


def sample(
    decoder: Decoder,
    memory: Tensor,
    memory_padding_mask: Tensor,
    options: DecodingOptions,
    stopping: Stopping,
) -> Generated:
    """Ancestral sampling with temperature and top-p, drawn with a generator seeded by
    ``options.seed`` (on the memory's device)."""
    generator = torch.Generator(device=memory.device)
    generator.manual_seed(options.seed)

    def draw(logits: Tensor) -> Tensor:
        return sample_choice(logits, options.temperature, options.top_p, generator)

    return decode_stepwise(decoder, memory, memory_padding_mask, options, stopping, draw)
