"""Beam search, batched over samples, with the decoder's KV cache.

Each sample keeps ``W`` live beams (rows ``b * W + w`` of the decoder state). At each step the
``2W`` best extensions of the sample's beams are ranked by their summed log-probability; an
extension that stops (stop token or stop string) among the first ``W`` becomes a finished
hypothesis scored ``sum log p / lp(n)`` (:mod:`polymodal.decoders.length_penalty`); the best
``W`` others are the next beams. A sample is done once it holds ``W`` finished hypotheses and no
live beam can still beat the worst of them: log-probabilities only fall as a beam grows and
``lp`` only grows with ``n``, so ``best live sum / lp(max_new_tokens)`` bounds every beam's
future score. At ``max_new_tokens`` the live beams finish with reason ``length``. The answer is
the finished hypothesis with the highest penalised score (the first found on ties).

Shape letters: B = samples, W = beam width, V = vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from polymodal.decoders.base import Decoder
from polymodal.decoders.length_penalty import penalised
from polymodal.decoders.options import DecodingOptions, FinishReason, Generated
from polymodal.decoders.stopping import Stopping


@dataclass
class _Sample:
    """One sample's search: live beams (tokens, summed log-prob) and finished hypotheses."""

    beams: list[tuple[list[int], float]]
    finished: list[tuple[float, list[int], FinishReason]] = field(default_factory=list)
    done: bool = False


class _Search:
    def __init__(self, options: DecodingOptions, stopping: Stopping) -> None:
        self.options, self.stopping, self.width = options, stopping, options.beam_width

    def score(self, total: float, length: int) -> float:
        o = self.options
        return penalised(total, length, o.length_penalty, o.alpha)

    def advance(
        self, s: _Sample, top: list[float], flat: list[int], vocab: int, n: int
    ) -> list[tuple[int, int]]:
        """Rank ``2W`` candidates of sample ``s`` at length ``n``; returns the next beams as
        ``(source beam, token)`` (at most ``W``) and updates ``s``."""
        nxt, picked = [], []
        for rank, (total, index) in enumerate(zip(top, flat, strict=True)):
            if total == float("-inf") or len(nxt) == self.width:
                break
            beam, token = divmod(index, vocab)
            seq = s.beams[beam][0] + [token]
            reason = self.stopping.reason(seq)
            if reason is None:
                nxt.append((seq, total))
                picked.append((beam, token))
            elif rank < self.width:
                s.finished.append((self.score(total, n), seq, reason))
        s.beams = nxt
        s.done = not nxt or self.settled(s)
        return picked

    def settled(self, s: _Sample) -> bool:
        """Whether no live beam of ``s`` can beat its ``W`` best finished hypotheses."""
        if len(s.finished) < self.width:
            return False
        worst = sorted((f[0] for f in s.finished), reverse=True)[self.width - 1]
        return self.score(s.beams[0][1], self.options.max_new_tokens) <= worst

    def best(self, s: _Sample) -> tuple[float, list[int], FinishReason]:
        if not s.done:
            n = self.options.max_new_tokens
            s.finished.extend((self.score(t, n), seq, "length") for seq, t in s.beams)
        return max(s.finished, key=lambda f: f[0])


def beam_search(
    decoder: Decoder,
    memory: Tensor,
    memory_padding_mask: Tensor,
    options: DecodingOptions,
    stopping: Stopping,
) -> Generated:
    """Beam search of width ``options.beam_width`` for each sample of ``memory [B, S, D]``."""
    batch, width, device = memory.shape[0], options.beam_width, memory.device
    search = _Search(options, stopping)
    samples = [_Sample(beams=[([], 0.0)]) for _ in range(batch)]
    state = decoder.start(memory, memory_padding_mask, use_cache=options.use_cache)
    live = list(range(batch))  # samples still searching, in state order (W rows each)
    state = state.select(torch.arange(batch, device=device).repeat_interleave(width))
    feed = torch.full((batch * width, 1), options.bos_id, dtype=torch.long, device=device)
    for n in range(1, options.max_new_tokens + 1):
        logits, state = decoder.step(feed, state)
        logp = logits[:, -1].float().log_softmax(dim=-1)  # [B * W, V]
        vocab = logp.shape[-1]
        totals = torch.tensor(
            [t for i in live for t in _padded_totals(samples[i], width)], device=device
        )
        cand = (totals[:, None] + logp).reshape(len(live), width * vocab)  # [B, W * V]
        top, flat = cand.topk(min(2 * width, width * vocab), dim=1)  # [B, 2W]
        rows, tokens, still = [], [], []
        for j, (i, t, f) in enumerate(zip(live, top.tolist(), flat.tolist(), strict=True)):
            picked = search.advance(samples[i], t, f, vocab, n)
            if samples[i].done or n == options.max_new_tokens:
                continue
            still.append(i)
            picked = picked + [picked[0]] * (width - len(picked))  # pad rows: never read
            rows += [j * width + beam for beam, _ in picked]
            tokens += [token for _, token in picked]
        if not still:
            break
        live = still
        state = state.select(torch.tensor(rows, dtype=torch.long, device=device))
        feed = torch.tensor(tokens, dtype=torch.long, device=device)[:, None]
    return _outputs([search.best(s) for s in samples], stopping)


def _padded_totals(s: _Sample, width: int) -> list[float]:
    """Summed log-probs of the ``W`` rows of ``s``: missing beams are ``-inf``."""
    return [t for _, t in s.beams] + [float("-inf")] * (width - len(s.beams))


def _outputs(best: list[tuple[float, list[int], FinishReason]], stopping: Stopping) -> Generated:
    kept, texts = [], []
    for _, seq, reason in best:
        tokens, text = stopping.output(seq, reason)
        kept.append(tokens)
        texts.append(text)
    texts_out = texts if stopping.detokenize is not None else None
    return Generated(kept, [b[0] for b in best], [b[2] for b in best], texts_out)
