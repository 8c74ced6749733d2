"""Sampling: the top-p nucleus by hand, seeded draws, temperature."""

from __future__ import annotations

import math

import torch
from decoder_tables import BOS, EOS, A, B, C, PrefixTable, no_memory

from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions
from polymodal.decoders.sampling import top_p_filter
from polymodal.registry import DECODERS


def test_top_p_keeps_exactly_the_smallest_set_reaching_p() -> None:
    # probabilities 0.1, 0.5, 0.15, 0.25 -> sorted 0.5, 0.25, 0.15, 0.1; cumulative 0.5, 0.75,
    # 0.9, 1.0. p = 0.7: {0.5, 0.25} (0.5 alone does not reach it); p = 0.8: add 0.15;
    # p = 0.45: {0.5} alone reaches it; p = 0.2: the most probable token is always kept.
    logits = torch.tensor([[0.1, 0.5, 0.15, 0.25]]).log()
    kept = {
        p: torch.isfinite(top_p_filter(logits, p))[0].nonzero().flatten().tolist()
        for p in (0.7, 0.8, 0.45, 0.2, 1.0)
    }
    assert kept == {0.7: [1, 3], 0.8: [1, 2, 3], 0.45: [1], 0.2: [1], 1.0: [0, 1, 2, 3]}
    assert torch.equal(top_p_filter(logits, 0.7)[0, [1, 3]], logits[0, [1, 3]])


def _decoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return DECODERS.create(
        "transformer_decoder",
        memory_dim=8,
        vocab_size=30,
        d_model=16,
        heads=2,
        layers=1,
        dropout=0.0,
    ).eval()


def test_the_same_seed_gives_the_same_tokens_and_other_seeds_differ() -> None:
    decoder, memory = _decoder(), torch.randn(4, 3, 8)
    mask = torch.zeros(4, 3, dtype=torch.bool)

    def draw(seed: int) -> list[list[int]]:
        opts = DecodingOptions(strategy="sample", seed=seed, max_new_tokens=12, temperature=1.5)
        return generate(decoder, memory, mask, opts).tokens

    first = draw(11)
    assert draw(11) == first
    others = [draw(seed) for seed in (12, 13, 14)]
    assert all(other != first for other in others)


def test_top_p_draws_only_from_the_nucleus() -> None:
    # After BOS: A 0.6, B 0.3, C 0.1. top_p = 0.85 keeps {A, B}: C is never drawn.
    table = {(BOS,): {A: 0.6, B: 0.3, C: 0.1}}
    decoder, (memory, mask) = PrefixTable(table), no_memory(400)
    opts = DecodingOptions(strategy="sample", top_p=0.85, stop_ids=(EOS,), max_new_tokens=1)
    firsts = [t[0] for t in generate(decoder, memory, mask, opts).tokens]
    assert C not in firsts
    assert {A, B} == set(firsts)
    share = firsts.count(A) / len(firsts)  # renormalised: 0.6 / 0.9 = 2/3
    assert abs(share - 2 / 3) < 4 * math.sqrt((2 / 9) / 400)


def test_a_tiny_temperature_is_greedy() -> None:
    decoder, memory = _decoder(), torch.randn(3, 4, 8)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    greedy = generate(decoder, memory, mask, DecodingOptions(max_new_tokens=8))
    cold = DecodingOptions(strategy="sample", temperature=1e-4, max_new_tokens=8, seed=3)
    assert generate(decoder, memory, mask, cold).tokens == greedy.tokens
