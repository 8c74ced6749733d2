"""``causal_lm`` on a tiny Llama saved locally: the LLaVA-style input against a hand-built
reference, padding, the KV cache against recomputation, decoding, and what each mode trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polymodal.decoders import PrefixState
from polymodal.decoders.causal_lm import CausalLMDecoder
from polymodal.decoders.causal_lm_state import CausalLMState
from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions
from polymodal.decoders.tokenizer import TargetTokenizer
from polymodal.errors import ConfigError
from polymodal.registry import DECODERS
from tiny_lm import BLOCKS, WIDTH, WORDS, save_tiny_lm

D = 6


def build(folder: Path, **params: object) -> CausalLMDecoder:
    torch.manual_seed(0)
    decoder = DECODERS.create("causal_lm", memory_dim=D, model=str(folder), **params)
    return decoder.eval()


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two samples: memory ``[2, 4, D]`` (the first padded after 2 positions), tokens ``[2, 5]``."""
    g = torch.Generator().manual_seed(0)
    memory = torch.randn(2, 4, D, generator=g)
    mask = torch.tensor([[False, False, True, True], [False] * 4])
    tokens = torch.randint(3, len(WORDS), (2, 5), generator=g)
    return memory, mask, tokens


def test_logits_are_the_lms_on_projected_memory_then_prompt_then_tokens(tiny_lm_dir: Path) -> None:
    decoder = build(tiny_lm_dir, prompt="the cat sat", projector="mlp")
    memory, _, tokens = batch()
    mask = torch.zeros(2, 4, dtype=torch.bool)
    lm = decoder.lm
    prompt = torch.tensor(decoder.tokenizer.encode("the cat sat"))
    assert prompt.tolist() == [3, 4, 5]
    embed = lm.get_input_embeddings()
    inputs = torch.cat(
        [decoder.projector(memory), embed(prompt)[None].expand(2, -1, -1), embed(tokens)], dim=1
    )  # [2, 4 + 3 + 5, E]
    reference = lm(inputs_embeds=inputs).logits[:, -5:, :10]  # id 10: the added pad token
    assert torch.allclose(decoder(memory, mask, tokens)[..., :10], reference, atol=1e-5)
    assert isinstance(decoder.projector[1], torch.nn.GELU)  # mlp: Linear, GELU, Linear


def test_memory_padding_changes_nothing(tiny_lm_dir: Path) -> None:
    decoder = build(tiny_lm_dir, prompt="a dog")
    memory, mask, tokens = batch()
    padded = decoder(memory, mask, tokens)[0]
    unpadded = decoder(memory[:1, :2], mask[:1, :2], tokens[:1])[0]
    assert torch.allclose(padded, unpadded, atol=1e-5)
    other = memory.clone()
    other[0, 2:] = 100.0  # values under the padding mask are never read
    assert torch.allclose(decoder(other, mask, tokens)[0], padded, atol=1e-6)


def test_cached_steps_equal_prefix_recomputation(tiny_lm_dir: Path) -> None:
    decoder = build(tiny_lm_dir, prompt="on the mat")
    memory, mask, tokens = batch()
    with torch.no_grad():
        cached = decoder.start(memory, mask)
        plain = decoder.start(memory, mask, use_cache=False)
        assert isinstance(cached, CausalLMState)
        assert isinstance(plain, PrefixState)
        for lo, hi in [(0, 1), (1, 3), (3, 4), (4, 5)]:  # steps of 1 and 2 tokens
            a, cached = decoder.step(tokens[:, lo:hi], cached)
            b, plain = decoder.step(tokens[:, lo:hi], plain)
            assert torch.allclose(a, b, atol=1e-5)
        assert cached.length == plain.length == 5
        # beams: reorder and duplicate rows, then step both states on
        index = torch.tensor([1, 1, 0])
        nxt = tokens[index, :1]
        a, _ = decoder.step(nxt, cached.select(index))
        b, _ = decoder.step(nxt, plain.select(index))
        assert torch.allclose(a, b, atol=1e-5)
        # the state stepped from is unchanged: stepping it again gives the same logits
        again, _ = decoder.step(tokens[:, :1], cached)
        first, _ = decoder.step(tokens[:, :1], plain)
        assert torch.allclose(again, first, atol=1e-5)


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_decoding_with_and_without_cache_gives_the_same_text(
    tiny_lm_dir: Path, strategy: str
) -> None:
    decoder = build(tiny_lm_dir, prompt="the")
    tok = decoder.tokenizer
    memory = torch.randn(4, 3, D, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[False, False, True]] * 2 + [[False] * 3] * 2)
    texts = []
    for use_cache in (True, False):
        options = DecodingOptions(
            strategy=strategy, max_new_tokens=8, bos_id=tok.bos_id, pad_id=tok.pad_id,
            stop_ids=(tok.eos_id,), beam_width=3, seed=3, use_cache=use_cache,
        )  # fmt: skip
        out = generate(decoder, memory, mask, options, detokenize=tok.decode)
        texts.append((out.texts, out.tokens))
    assert texts[0] == texts[1]
    assert len({t for t in texts[0][0]}) > 1  # the memories lead to different texts
    assert all(set(t.split()) <= set(WORDS[3:]) for t in texts[0][0])


def test_zero_length_memory_and_no_prompt(tiny_lm_dir: Path) -> None:
    decoder = build(tiny_lm_dir)
    tokens = torch.tensor([[0, 3, 4, 5]])
    empty, no_pad = torch.zeros(1, 0, D), torch.zeros(1, 0, dtype=torch.bool)
    reference = decoder.lm(input_ids=tokens).logits
    reference[..., 10] = torch.finfo(reference.dtype).min  # the added pad token
    assert torch.allclose(decoder(empty, no_pad, tokens), reference, atol=1e-5)
    state = decoder.start(empty, no_pad)
    logits, state = decoder.step(tokens[:, :1], state)
    logits2, _ = decoder.step(tokens[:, 1:], state)
    assert torch.allclose(torch.cat([logits, logits2], 1), reference, atol=1e-5)


def _trainable(decoder: CausalLMDecoder) -> set[str]:
    """Names of the parameters that get a gradient from a teacher-forced loss."""
    memory, mask, tokens = batch()
    decoder.zero_grad(set_to_none=True)
    logits = decoder(memory, mask, tokens)
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens.flatten()).backward()
    return {n for n, p in decoder.named_parameters() if p.grad is not None and p.grad.any()}


@pytest.mark.parametrize(
    ("mode", "last_n", "blocks"), [("frozen", 1, []), ("last_n", 1, [2]), ("last_n", 2, [1, 2])]
)
def test_modes_train_exactly_their_parameters(
    tiny_lm_dir: Path, mode: str, last_n: int, blocks: list[int]
) -> None:
    decoder = build(tiny_lm_dir, finetune=mode, last_n=last_n, projector="linear")
    expected = {"projector.weight", "projector.bias", *(["lm.model.norm.weight"] if blocks else [])}
    expected |= {
        n for n, _ in decoder.named_parameters() if any(f"layers.{i}." in n for i in blocks)
    }
    assert _trainable(decoder) == expected
    assert {n for n, p in decoder.named_parameters() if p.requires_grad} == expected


def test_full_trains_every_parameter(tiny_lm_dir: Path) -> None:
    decoder = build(tiny_lm_dir, finetune="full")
    names = {n for n, _ in decoder.named_parameters()}
    assert any("embed_tokens" in n for n in names)
    assert _trainable(decoder) == names


def test_tokenizer_adds_a_pad_token_that_is_never_generated(tiny_lm_dir: Path) -> None:
    decoder = build(tiny_lm_dir)
    tok = decoder.tokenizer
    assert isinstance(tok, TargetTokenizer)
    assert (tok.bos_id, tok.eos_id, tok.pad_id, tok.vocab_size) == (0, 1, 10, 11)
    assert decoder.vocab_size == 11 == decoder.lm.get_input_embeddings().weight.shape[0]
    assert tok.encode("the cat sat") == [3, 4, 5]  # no BOS added
    assert tok.decode([0, 3, 4, 1, 10, 10]) == "the cat"
    memory, mask, tokens = batch()
    logits = decoder(memory, mask, tokens)
    assert (logits[..., 10] == torch.finfo(logits.dtype).min).all()
    assert (logits[..., :10] > -1e6).all()


def test_a_tokenizer_with_its_own_pad_keeps_it(tmp_path: Path) -> None:
    decoder = build(save_tiny_lm(tmp_path, pad=True))
    assert (decoder.tokenizer.pad_id, decoder.vocab_size) == (10, 11)
    memory, mask, tokens = batch()
    assert (decoder(memory, mask, tokens)[..., 10] > -1e6).all()  # the LM's own token


def test_bad_parameters_are_refused(tiny_lm_dir: Path) -> None:
    with pytest.raises(ConfigError, match="vocab_size must equal the LM's vocabulary"):
        build(tiny_lm_dir, vocab_size=12)
    assert build(tiny_lm_dir, vocab_size=11).vocab_size == 11
    with pytest.raises(ValueError, match=f"last_n=4 > the LM's {BLOCKS} blocks"):
        build(tiny_lm_dir, finetune="last_n", last_n=4)
    assert build(tiny_lm_dir).lm.get_input_embeddings().weight.shape[1] == WIDTH


def test_identity_projector_passes_memory_of_the_lms_width_unchanged(tiny_lm_dir: Path) -> None:
    with pytest.raises(ConfigError, match=f"identity needs memory of the LM's width {WIDTH}"):
        build(tiny_lm_dir, projector="identity")  # memory_dim D = 6 != 16
    torch.manual_seed(0)
    decoder = DECODERS.create(
        "causal_lm", memory_dim=WIDTH, model=str(tiny_lm_dir), projector="identity"
    ).eval()
    assert not list(decoder.projector.parameters())
    assert decoder.modality_embedding is False
    assert build(tiny_lm_dir).modality_embedding is True
    embed = decoder.lm.get_input_embeddings()
    memory = embed(torch.tensor([[3, 4], [8, 9]])).detach()  # [2, 2, E]: two LM tokens each
    tokens = torch.tensor([[5, 6], [5, 7]])
    mask = torch.zeros(2, 2, dtype=torch.bool)
    reference = decoder.lm(input_ids=torch.cat([torch.tensor([[3, 4], [8, 9]]), tokens], 1))
    got = decoder(memory, mask, tokens)[..., :10]
    assert torch.allclose(got, reference.logits[:, -2:, :10], atol=1e-5)
