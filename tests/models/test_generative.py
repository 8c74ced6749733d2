"""Tests of polymodal.models.generative and generative_builder: memory, targets, loss, build."""

from __future__ import annotations

import pytest
import torch

from polymodal.config import ModelConfig
from polymodal.config.generation import GenerationConfig
from polymodal.data.collate import collate_samples
from polymodal.data.schema import DatasetInfo, ModalitySpec, Sample, TaskSpec
from polymodal.decoders.options import DecodingOptions
from polymodal.decoders.vocab import TextVocabulary
from polymodal.errors import ConfigError
from polymodal.models.generative import (
    MEMORY_MASK_KEY,
    reference_choice,
    target_tokens,
)
from polymodal.models.generative_builder import build_generative_model

SPECS = {
    "a": ModalitySpec("a", "text", (-1,), vocab_size=12, pad_id=0),
    "b": ModalitySpec("b", "text", (-1,), vocab_size=12, pad_id=0),
}
INFO = DatasetInfo("toy", SPECS, TaskSpec("generation", 0))
REFS = ["a red cat", "one blue dog", "a dog"]


def _model(**encoders_b):
    torch.manual_seed(0)
    encoders = {"a": {"name": "text_gru", "out_dim": 16}}
    if encoders_b:
        encoders["b"] = encoders_b
    cfg = ModelConfig(
        encoders=encoders,
        decoder={"name": "transformer_decoder", "d_model": 16, "heads": 2, "layers": 1,
                 "dropout": 0.0},
    )  # fmt: skip
    model = build_generative_model(cfg, INFO, texts=REFS, gen=GenerationConfig())
    return model.eval()


def _batch(rows):
    samples = [
        Sample(f"s{i}", {k: None if v is None else torch.tensor(v) for k, v in inputs.items()},
               references=("a dog",))
        for i, inputs in enumerate(rows)
    ]  # fmt: skip
    return collate_samples(samples, SPECS)


def test_memory_concatenates_projected_tokens_and_masks_absent_modalities() -> None:
    model = _model(name="text_gru", out_dim=8)
    batch = _batch([{"a": [3, 4, 5], "b": [6, 7]}, {"a": [3], "b": None}])
    out = model(batch)
    memory, mask = out.output, out.extras[MEMORY_MASK_KEY]
    assert memory.shape == (2, 3 + 2, 16)
    assert model.memory_dim == 16
    assert isinstance(model.project["a"], torch.nn.Identity)
    fa, fb = out.features["a"], out.features["b"]
    expected_a = fa.tokens + model.modality_embed[0]
    expected_b = model.project["b"](fb.tokens) + model.modality_embed[1]
    assert torch.allclose(memory[:, :3], expected_a)
    assert torch.allclose(memory[:, 3:], expected_b)
    # sample 1: "a" has 2 padding positions, "b" is absent (every position masked)
    assert mask.tolist() == [[False] * 5, [False, True, True, True, True]]


def test_target_tokens_by_hand() -> None:
    vocab = TextVocabulary.fit(REFS, "word")
    ids = target_tokens(["a dog", "one blue dog"], vocab, max_length=3)
    a, dog, one, blue = (vocab.index["\u2581" + w] for w in ("a", "dog", "one", "blue"))
    assert ids.tolist() == [[a, dog, vocab.eos_id], [one, blue, vocab.eos_id]]
    ids = target_tokens(["a dog", "one blue dog"], vocab, max_length=10)
    assert ids.tolist() == [[a, dog, 2, 0], [one, blue, dog, 2]]


def test_reference_choice_is_seeded_per_sample_and_epoch() -> None:
    refs = ["r0", "r1", "r2", "r3", "r4"]
    picks = [reference_choice(refs, "img-7", seed=3, epoch=e) for e in range(40)]
    assert picks == [reference_choice(refs, "img-7", seed=3, epoch=e) for e in range(40)]
    assert set(picks) == set(refs)  # every reference is used over the epochs
    other = [reference_choice(refs, "img-7", seed=4, epoch=e) for e in range(40)]
    assert other != picks


def test_loss_is_the_mean_token_cross_entropy_without_pad() -> None:
    model = _model()
    batch = _batch([{"a": [3, 4], "b": None}, {"a": [5], "b": None}])
    targets = target_tokens(["a red cat", "a dog"], model.tokenizer, 16)
    out = model(batch)
    logp = model.logits(out, targets).log_softmax(-1)
    picked = logp.gather(-1, targets[..., None]).squeeze(-1)
    keep = targets != model.tokenizer.pad_id
    assert keep.sum() == 4 + 3  # three words + eos, two words + eos
    expected = -(picked[keep]).mean()
    assert torch.allclose(model.loss(out, targets), expected, atol=1e-6)


def test_a_sample_does_not_depend_on_the_batch_padding() -> None:
    model = _model(name="text_gru", out_dim=16)
    alone = _batch([{"a": [3], "b": [4]}])
    padded = _batch([{"a": [3], "b": [4]}, {"a": [5, 6, 7, 8], "b": [9, 9, 9]}])
    targets = target_tokens(["a dog"], model.tokenizer, 16)
    with torch.no_grad():
        x = model.logits(model(alone), targets)
        y = model.logits(model(padded), torch.cat([targets, targets]))[:1]
    assert torch.allclose(x, y, atol=1e-5)


def test_generate_greedy_and_seeded_sampling_repeat() -> None:
    model = _model()
    batch = _batch([{"a": [3, 4], "b": None}, {"a": [5], "b": None}])
    greedy = model.generate(batch, DecodingOptions(max_new_tokens=5))
    assert greedy.texts == model.generate(batch, DecodingOptions(max_new_tokens=5)).texts
    options = DecodingOptions(strategy="sample", seed=11, max_new_tokens=6)
    first = model.generate(batch, options)
    assert first.texts == model.generate(batch, options).texts
    assert all(len(t) <= 6 for t in first.tokens)


def test_build_problems_are_named() -> None:
    decoder = {"name": "transformer_decoder"}
    multiclass = DatasetInfo("cls", SPECS, TaskSpec("multiclass", 2))
    with pytest.raises(ConfigError, match="needs a generation task"):
        build_generative_model(ModelConfig(encoders={"a": "text_gru"}, decoder=decoder), multiclass)
    with pytest.raises(ConfigError, match="give a decoder"):
        build_generative_model(ModelConfig(encoders={"a": "text_gru"}), INFO)
    cfg = ModelConfig(encoders={"a": "text_gru"}, decoder=decoder, head="classification")
    with pytest.raises(ConfigError, match=r"model\.head: a model with a decoder has no head"):
        build_generative_model(cfg, INFO)
    cfg = ModelConfig(encoders={"a": "text_gru"}, decoder={"name": "transformer_decoder",
                                                           "heads": 3})  # fmt: skip
    with pytest.raises(ConfigError, match=r"model\.decoder"):
        build_generative_model(cfg, INFO, texts=REFS)
