"""Beam search: it finds what greedy misses, width 1 is greedy, and length penalties by hand."""

from __future__ import annotations

import math

import pytest
import torch
from decoder_tables import BOS, EOS, A, B, PrefixTable, no_memory

from polymodal.decoders.generate import generate
from polymodal.decoders.length_penalty import LENGTH_PENALTIES
from polymodal.decoders.options import DecodingOptions
from polymodal.registry import DECODERS

# Greedy takes A (0.6) then A (0.4), then EOS: p = 0.24. The best sequence is B EOS: p = 0.4.
GARDEN_PATH = {
    (BOS,): {A: 0.6, B: 0.4},
    (BOS, A): {A: 0.4, B: 0.3, EOS: 0.3},
    (BOS, B): {EOS: 1.0},
}


def test_beam_search_finds_the_best_sequence_that_greedy_misses() -> None:
    decoder = PrefixTable(GARDEN_PATH)
    memory, mask = no_memory()
    greedy = generate(decoder, memory, mask, DecodingOptions(stop_ids=(EOS,)))
    assert greedy.tokens == [[A, A]]
    assert greedy.scores[0] == pytest.approx(math.log(0.6 * 0.4 * 1.0))
    beam = DecodingOptions(strategy="beam", beam_width=2, length_penalty="none", stop_ids=(EOS,))
    out = generate(decoder, memory, mask, beam)
    assert out.tokens == [[B]]
    assert out.scores[0] == pytest.approx(math.log(0.4))
    assert out.finish == ["stop_id"]


# Every complete sequence, its probability and length (EOS counted):
#   A EOS      0.5 * 0.6        n = 2   log p = -1.2040
#   A B EOS    0.5 * 0.4        n = 3   log p = -1.6094
#   B B EOS    0.5 * 1.0 * 0.5  n = 3   log p = -1.3863
#   B B B EOS  0.5 * 1.0 * 0.5  n = 4   log p = -1.3863
# none:           A EOS wins (-1.2040).
# gnmt, alpha=1:  A EOS -1.2040 / (7/6) = -1.0320;  B B B EOS -1.3863 / (9/6) = -0.9242 wins.
# normalised, 1:  A EOS -0.6020;  B B B EOS -0.3466 wins.
LENGTHS = {
    (BOS,): {A: 0.5, B: 0.5},
    (BOS, A): {EOS: 0.6, B: 0.4},
    (BOS, B): {B: 1.0},
    (BOS, B, B): {B: 0.5, EOS: 0.5},
}


@pytest.mark.parametrize(
    ("convention", "expected", "score"),
    [
        ("none", [A], math.log(0.3)),
        ("gnmt", [B, B, B], math.log(0.25) / 1.5),
        ("normalised", [B, B, B], math.log(0.25) / 4),
    ],
)
def test_the_length_penalty_changes_the_choice_as_computed_by_hand(
    convention: str, expected: list[int], score: float
) -> None:
    options = DecodingOptions(
        strategy="beam", beam_width=4, length_penalty=convention, alpha=1.0, stop_ids=(EOS,)
    )
    out = generate(PrefixTable(LENGTHS), *no_memory(), options)
    assert out.tokens == [expected]
    assert out.scores[0] == pytest.approx(score)


def test_length_penalty_conventions_by_hand() -> None:
    assert LENGTH_PENALTIES["gnmt"](4, 0.6) == pytest.approx((9 / 6) ** 0.6)
    assert LENGTH_PENALTIES["normalised"](4, 0.5) == pytest.approx(2.0)
    assert LENGTH_PENALTIES["none"](4, 2.0) == 1.0
    assert LENGTH_PENALTIES["gnmt"](7, 0.0) == 1.0


def test_max_new_tokens_ends_every_beam_with_reason_length() -> None:
    forever = {(BOS,): {A: 0.9, EOS: 0.1}, (BOS, A): {A: 0.9, EOS: 0.1}}
    forever |= {(BOS, A, A): {A: 0.9, EOS: 0.1}}
    opts = DecodingOptions(
        strategy="beam", beam_width=2, length_penalty="none", stop_ids=(EOS,), max_new_tokens=3
    )
    out = generate(PrefixTable(forever), *no_memory(), opts)
    assert out.tokens == [[A, A, A]]
    assert out.finish == ["length"]
    assert out.scores[0] == pytest.approx(3 * math.log(0.9))


def _random_decoder(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return DECODERS.create(
        "transformer_decoder",
        memory_dim=8,
        vocab_size=13,
        d_model=16,
        heads=2,
        layers=2,
        dropout=0.0,
    ).eval()


def test_beam_width_one_is_greedy() -> None:
    decoder = _random_decoder(3)
    memory = torch.randn(6, 5, 8)
    mask = torch.arange(5)[None, :] >= torch.tensor([5, 4, 3, 2, 1, 5])[:, None]
    base = DecodingOptions(stop_ids=(2, 7), max_new_tokens=12)
    greedy = generate(decoder, memory, mask, base)
    beam = base.model_copy(update={"strategy": "beam", "beam_width": 1, "length_penalty": "none"})
    out = generate(decoder, memory, mask, beam)
    assert out.tokens == greedy.tokens
    assert out.finish == greedy.finish
    assert out.scores == pytest.approx(greedy.scores, abs=1e-5)
    assert len({len(t) for t in greedy.tokens}) > 1  # samples stopped at different steps
