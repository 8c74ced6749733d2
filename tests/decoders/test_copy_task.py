"""The decoder learns to copy a token sequence out of its memory: cross-attention works.

The memory is a source sequence embedded with sinusoidal positions (a trainable embedding, no
encoder layer), so the only way to the target is attending to the right memory position at each
step. Sources have different lengths (padded memory), targets end with a stop token.
"""

from __future__ import annotations

import torch
from torch import nn

from polymodal.decoders.base import shift_right
from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions
from polymodal.nn import sinusoidal_positions
from polymodal.registry import DECODERS

PAD, BOS, EOS, FIRST, VOCAB = 0, 1, 2, 3, 11
MAX_LEN = 6


def batch(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sources ``[n, MAX_LEN]`` (PAD after each length), their padding mask and targets
    ``[n, MAX_LEN + 1]`` (the source, EOS, then PAD)."""
    lengths = torch.randint(3, MAX_LEN + 1, (n,), generator=gen)
    tokens = torch.randint(FIRST, VOCAB, (n, MAX_LEN), generator=gen)
    padding = torch.arange(MAX_LEN)[None, :] >= lengths[:, None]
    source = tokens.masked_fill(padding, PAD)
    targets = torch.cat([source, torch.full((n, 1), PAD)], dim=1)
    targets[torch.arange(n), lengths] = EOS
    return source, padding, targets


class SourceMemory(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        x = self.embed(source)
        return x + sinusoidal_positions(source.shape[1], x.shape[-1], like=x)


def test_a_small_decoder_learns_to_copy_from_memory() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    memory_net = SourceMemory(32)
    decoder = DECODERS.create(
        "transformer_decoder",
        memory_dim=32,
        vocab_size=VOCAB,
        d_model=32,
        heads=2,
        layers=2,
        dropout=0.0,
    )
    params = [*memory_net.parameters(), *decoder.parameters()]
    optim = torch.optim.Adam(params, lr=3e-3)
    for _ in range(300):
        source, padding, targets = batch(64, gen)
        logits = decoder(memory_net(source), padding, shift_right(targets, BOS))
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=PAD
        )
        optim.zero_grad()
        loss.backward()
        optim.step()
    decoder.eval()
    source, padding, _ = batch(200, torch.Generator().manual_seed(1))
    with torch.no_grad():
        memory = memory_net(source)
    options = DecodingOptions(stop_ids=(EOS,), max_new_tokens=MAX_LEN + 2)
    out = generate(decoder, memory, padding, options)
    expected = [row[~pad].tolist() for row, pad in zip(source, padding, strict=True)]
    exact = sum(got == want for got, want in zip(out.tokens, expected, strict=True)) / 200
    assert exact >= 0.9, f"copied exactly {exact:.0%} of 200 held-out sequences"
    assert out.finish.count("stop_id") >= 180
