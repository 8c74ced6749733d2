"""``transformer_decoder``: KV cache == recomputation, causality, memory padding, the registry."""

from __future__ import annotations

import pytest
import torch

from polymodal.decoders import KVCache, PrefixState, shift_right
from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions
from polymodal.decoders.transformer import TransformerDecoder
from polymodal.errors import ConfigError
from polymodal.registry import DECODERS

VOCAB, MEMORY_DIM = 17, 12
STOP = (2,)


def make(seed: int = 0, **kwargs: object) -> TransformerDecoder:
    torch.manual_seed(seed)
    params = {"d_model": 24, "heads": 3, "layers": 2, "dropout": 0.0, **kwargs}
    decoder = DECODERS.create(
        "transformer_decoder", memory_dim=MEMORY_DIM, vocab_size=VOCAB, **params
    )
    return decoder.eval()


def memories(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Memory ``[B, max(lengths), D]`` with garbage (large values) in the padding."""
    gen = torch.Generator().manual_seed(seed)
    s = max(lengths)
    memory = torch.randn(len(lengths), s, MEMORY_DIM, generator=gen)
    mask = torch.arange(s)[None, :] >= torch.tensor(lengths)[:, None]
    return memory.masked_fill(mask[..., None], 1e4), mask


def test_the_registry_builds_it_and_checks_its_parameters() -> None:
    assert "transformer_decoder" in DECODERS.names()
    with pytest.raises(ConfigError, match="heads must divide d_model"):
        DECODERS.create("transformer_decoder", memory_dim=4, vocab_size=9, d_model=10, heads=4)
    with pytest.raises(ConfigError, match="layers: Input should be greater than or equal to 1"):
        DECODERS.create("transformer_decoder", memory_dim=4, vocab_size=9, layers=0)


def test_tied_output_projection_is_the_token_embedding() -> None:
    tied, untied = make(tie_embeddings=True), make(tie_embeddings=False)
    assert tied.proj is None
    assert untied.proj is not None
    n_tied = sum(p.numel() for p in tied.parameters())
    assert sum(p.numel() for p in untied.parameters()) - n_tied == VOCAB * 24
    memory, mask = memories([3])
    with torch.no_grad():
        tied.embed.weight[7] = 0.0  # logit of token 7 = h . embedding[7] = 0 when tied
        untied.embed.weight[7] = 0.0
    tokens = torch.tensor([[1, 4, 5]])
    assert torch.equal(tied(memory, mask, tokens)[..., 7], torch.zeros(1, 3))
    assert not torch.equal(untied(memory, mask, tokens)[..., 7], torch.zeros(1, 3))


def test_cached_steps_give_the_logits_of_recomputing_the_prefix() -> None:
    decoder = make()
    memory, mask = memories([5, 3, 1])
    tokens = torch.randint(0, VOCAB, (3, 9), generator=torch.Generator().manual_seed(2))
    full = decoder(memory, mask, tokens)  # [B, T, V]
    cached, state = [], decoder.start(memory, mask)
    assert isinstance(state, KVCache)
    for chunk in (tokens[:, :1], tokens[:, 1:4], tokens[:, 4:5], tokens[:, 5:]):
        logits, state = decoder.step(chunk, state)
        cached.append(logits)
    assert state.length == 9
    assert torch.allclose(torch.cat(cached, dim=1), full, atol=1e-5)
    prefix_state = decoder.start(memory, mask, use_cache=False)
    assert isinstance(prefix_state, PrefixState)
    logits, _ = decoder.step(tokens[:, :4], prefix_state)
    assert torch.allclose(logits, full[:, :4], atol=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        DecodingOptions(stop_ids=STOP, max_new_tokens=15),
        DecodingOptions(strategy="beam", beam_width=3, stop_ids=STOP, max_new_tokens=15),
        DecodingOptions(strategy="sample", top_p=0.9, seed=5, stop_ids=STOP, max_new_tokens=15),
    ],
    ids=["greedy", "beam", "sample"],
)
def test_decoding_with_the_cache_gives_the_tokens_of_recomputation(
    options: DecodingOptions,
) -> None:
    decoder = make(4)
    memory, mask = memories([6, 2, 4, 1])
    cached = generate(decoder, memory, mask, options)
    recomputed = generate(decoder, memory, mask, options.model_copy(update={"use_cache": False}))
    assert cached.tokens == recomputed.tokens
    assert cached.finish == recomputed.finish
    assert cached.scores == pytest.approx(recomputed.scores, abs=1e-5)
    assert max(len(t) for t in cached.tokens) > 3  # long enough for the cache to matter


def test_teacher_forced_logits_at_t_do_not_depend_on_later_tokens() -> None:
    decoder = make()
    memory, mask = memories([4, 4])
    tokens = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(3))
    changed = tokens.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % VOCAB
    a, b = decoder(memory, mask, tokens), decoder(memory, mask, changed)
    assert torch.equal(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_memory_padding_changes_nothing_batched_equals_one_by_one() -> None:
    decoder = make(6)
    lengths = [7, 2, 5]
    memory, mask = memories(lengths)
    tokens = torch.randint(0, VOCAB, (3, 6), generator=torch.Generator().manual_seed(4))
    batched = decoder(memory, mask, tokens)
    for i, n in enumerate(lengths):
        alone = decoder(memory[i : i + 1, :n], mask[i : i + 1, :n], tokens[i : i + 1])
        assert torch.allclose(batched[i : i + 1], alone, atol=1e-5)
    for options in (
        DecodingOptions(stop_ids=STOP, max_new_tokens=10),
        DecodingOptions(strategy="beam", beam_width=3, stop_ids=STOP, max_new_tokens=10),
    ):
        together = generate(decoder, memory, mask, options)
        for i, n in enumerate(lengths):
            alone = generate(decoder, memory[i : i + 1, :n], mask[i : i + 1, :n], options)
            assert alone.tokens == [together.tokens[i]]
            assert alone.scores[0] == pytest.approx(together.scores[i], abs=1e-5)


def test_a_sample_with_all_memory_padded_gets_finite_logits() -> None:
    decoder = make()
    memory, mask = memories([3, 3])
    mask[1] = True
    logits = decoder(memory, mask, torch.tensor([[1, 5], [1, 5]]))
    assert torch.isfinite(logits).all()


def test_shift_right_puts_bos_first() -> None:
    assert shift_right(torch.tensor([[5, 6, 2]]), bos_id=1).tolist() == [[1, 5, 6]]
