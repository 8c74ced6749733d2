"""The decoder contract, for every registered decoder (a tiny build of each)."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import torch

from polymodal.decoders import Decoder
from polymodal.registry import DECODERS

VOCAB, MEMORY_DIM = 11, 6
TINY_LM = object()  # stands for the folder of the tiny causal LM (fixture tiny_lm_dir: 11 ids)
TINY: dict[str, dict[str, object]] = {
    "transformer_decoder": {"d_model": 8, "heads": 2, "layers": 1, "dropout": 0.0},
    "causal_lm": {"model": TINY_LM, "prompt": "the cat", "finetune": "last_n", "last_n": 1},
}
WIDTHS = {"d_model", "heads", "layers", "hidden_dim", "num_heads", "last_n"}


def test_every_registered_decoder_has_a_tiny_build_here() -> None:
    assert set(TINY) == set(DECODERS.names())


def build(name: str, tiny_lm: Path) -> Decoder:
    torch.manual_seed(0)
    params = {k: str(tiny_lm) if v is TINY_LM else v for k, v in TINY[name].items()}
    decoder = DECODERS.create(name, memory_dim=MEMORY_DIM, vocab_size=VOCAB, **params)
    return decoder.eval()


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_contract(name: str, tiny_lm_dir: Path) -> None:
    decoder = build(name, tiny_lm_dir)
    assert isinstance(decoder, Decoder)
    assert (decoder.vocab_size, decoder.memory_dim) == (VOCAB, MEMORY_DIM)
    memory = torch.randn(2, 4, MEMORY_DIM)
    mask = torch.tensor([[False, False, True, True], [False] * 4])
    tokens = torch.randint(0, VOCAB, (2, 5), generator=torch.Generator().manual_seed(0))
    logits = decoder(memory, mask, tokens)
    assert logits.shape == (2, 5, VOCAB)
    for use_cache in (True, False):
        state = decoder.start(memory, mask, use_cache=use_cache)
        first, state = decoder.step(tokens[:, :2], state)
        rest, state = decoder.step(tokens[:, 2:], state)
        assert state.length == 5
        assert torch.allclose(torch.cat([first, rest], dim=1), logits, atol=1e-5)
        swapped = state.select(torch.tensor([1, 0]))
        again, _ = decoder.step(tokens[[1, 0], :1], swapped)
        after, _ = decoder.step(tokens[:, :1], state)
        assert torch.allclose(again, after[[1, 0]], atol=1e-5)


@pytest.mark.parametrize("name", sorted(TINY))
def test_widths_and_counts_refuse_zero(name: str) -> None:
    model = DECODERS.params_model(name)
    fields = set(model.model_fields) & WIDTHS
    assert fields
    for field in fields:
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({field: 0})
    if "dropout" in model.model_fields:
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({"dropout": 1.0})
