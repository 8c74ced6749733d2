"""A polymodal generating run as a model under test (``run:RUN_DIR``): a tiny copy run trained
on real Tatoeba sentences; the adapter's inputs, texts and scores equal the run's own
preprocessing, ``polymodal evaluate``'s decoding and a hand computation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from polymodal.adapters import (
    AdapterError,
    GenerationSettings,
    ImageInput,
    Message,
    Request,
    create_adapter,
)
from polymodal.adapters.run import RunAdapter, request_decoding
from polymodal.adapters.run_inputs import RunInputs
from polymodal.config import parse_config
from polymodal.data.collate import collate_samples
from polymodal.data.schema import ModalitySpec
from polymodal.decoders.options import DecodingOptions
from polymodal.evaluate.generation.run import decoding_options, generation_table
from polymodal.train.run import train

TATOEBA = Path(__file__).parents[2] / ".." / "shared" / "data" / "tatoeba-cmn-eng" / "cmn-eng.tsv"
needs_data = pytest.mark.skipif(not TATOEBA.is_file(), reason="needs ../shared/data (Tatoeba)")


def copy_config() -> dict:
    """English in, the same English out (a tiny model learns it in a few epochs)."""
    return {
        "seed": 0,
        "data": {"name": "translation", "path": str(TATOEBA), "source": "text_en",
                 "source_column": 0, "target_column": 0, "limit": 120},
        "model": {
            "encoders": {"text_en": {"name": "text_gru", "out_dim": 16}},
            "decoder": {"name": "transformer_decoder", "d_model": 16, "heads": 2, "layers": 1,
                        "dropout": 0.0},
        },
        "train": {"max_epochs": 3, "batch_size": 16, "lr": 0.01, "progress": False},
        "generation": {"max_target_length": 10, "max_new_tokens": 10},
        "eval": {"batch_size": 8},
    }  # fmt: skip


def source_text(sample_id: str) -> str:
    """The English sentence of translation sample ``p<line>`` (its line in the TSV, from 1)."""
    lines = TATOEBA.read_text(encoding="utf-8").splitlines()
    return lines[int(sample_id[1:]) - 1].split("\t")[0].strip()


def user(sample_id: str, *parts) -> Request:
    return Request(sample_id, (Message("system", ("Answer.",)), Message("user", parts)))


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> RunAdapter:
    if not TATOEBA.is_file():
        pytest.skip("needs ../shared/data (Tatoeba)")
    run_dir = tmp_path_factory.mktemp("runadapter") / "run"
    train(parse_config(copy_config()), run_dir)
    made = create_adapter(str(run_dir))  # a bare run directory: kind run
    assert isinstance(made, RunAdapter)
    return made


def _test_split(adapter: RunAdapter):
    from polymodal.rundir.load import load_run_data

    test = load_run_data(adapter.target, adapter.config).splits["test"]
    samples = [test[i] for i in range(len(test))]
    requests = [user(s.id, source_text(s.id)) for s in samples]
    return test, samples, requests


@needs_data
def test_requests_become_the_runs_own_inputs(adapter: RunAdapter) -> None:
    _, samples, requests = _test_split(adapter)
    ours = adapter.batch(requests).inputs["text_en"]
    theirs = collate_samples(samples, adapter.specs).inputs["text_en"]
    assert torch.equal(ours.values, theirs.values)
    assert torch.equal(ours.padding_mask, theirs.padding_mask)
    assert ours.present.all()


@needs_data
def test_texts_equal_the_runs_own_decoding(adapter: RunAdapter) -> None:
    test, _, requests = _test_split(adapter)
    gen = adapter.config.generation
    greedy = GenerationSettings(max_new_tokens=gen.max_new_tokens)
    expected = generation_table(adapter.model, test, adapter.specs,
                                decoding_options(gen), 8)["hypothesis"]  # fmt: skip
    greedy_texts = [g.text for g in adapter.generate(requests, greedy)]
    assert greedy_texts == list(expected)
    assert sum(bool(t) for t in greedy_texts) > len(greedy_texts) // 2  # real texts, not blanks
    sampled = GenerationSettings(max_new_tokens=6, temperature=1.5, seed=5)
    options = DecodingOptions(strategy="sample", temperature=1.5, seed=5, max_new_tokens=6)
    expected = generation_table(adapter.model, test, adapter.specs, options, 8)["hypothesis"]
    texts = [g.text for g in adapter.generate(requests, sampled)]
    assert texts == list(expected)
    assert texts != [g.text for g in adapter.generate(requests, GenerationSettings(
        max_new_tokens=6, temperature=1.5, seed=6))]  # fmt: skip


@needs_data
def test_scores_are_summed_target_log_softmax(adapter: RunAdapter) -> None:
    _, samples, requests = _test_split(adapter)
    candidates = [source_text(samples[0].id), "i like tea .", "zzzz unknownword"]
    scores = adapter.score(requests[0], candidates)
    model, tok = adapter.model, adapter.model.tokenizer
    memory = model(collate_samples(samples[:1], adapter.specs))
    for candidate, score in zip(candidates, scores, strict=True):
        ids = [*tok.encode(candidate), tok.eos_id]
        with torch.no_grad():
            logits = model.logits(memory, torch.tensor([ids]))[0].double()  # [T, V]
        by_hand = sum(float(torch.log_softmax(logits[t], -1)[i]) for t, i in enumerate(ids))
        assert score == pytest.approx(by_hand, abs=1e-4)
    assert scores.dtype == np.float64


@needs_data
def test_requests_the_run_cannot_take_are_refused_naming_the_sample(
    adapter: RunAdapter, tmp_path: Path
) -> None:
    image = ImageInput(data=_png(), source="x")
    with pytest.raises(AdapterError, match=r"sample q7: the request holds 1 images"):
        adapter.generate([user("q7", "hello", image)], GenerationSettings())
    history = Request("q8", (Message("user", ("hi",)), Message("assistant", ("hi",)),
                             Message("user", ("bye",))))  # fmt: skip
    with pytest.raises(AdapterError, match=r"sample q8: .*assistant turns"):
        adapter.score(history, ["hi"])
    blind = adapter.batch([user("q9")])
    assert not blind.inputs["text_en"].present.any()  # no user text: the modality is absent


def _png(color=(255, 0, 0), size=(12, 10)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_images_go_to_image_modalities_in_order(tmp_path: Path) -> None:
    from polymodal.data.loaders.image import load_image
    from polymodal.data.transforms.image import ImageTransform

    meta = {"channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}
    specs = {m: ModalitySpec(m, "image", (3, 8, 8), meta=meta) for m in ("front", "side")}
    inputs = RunInputs(specs, {})
    red, blue = _png((255, 0, 0)), _png((0, 0, 255), (20, 6))
    sample = inputs.sample(user("s1", ImageInput(data=red), ImageInput(data=blue)))
    (tmp_path / "b.png").write_bytes(blue)
    expected = ImageTransform((8, 8), meta["mean"], meta["std"])(load_image(tmp_path / "b.png"))
    assert torch.allclose(sample.inputs["side"], expected)
    assert sample.inputs["front"][0].mean() == pytest.approx((1.0 - 0.5) / 0.25)
    one = inputs.sample(user("s2", ImageInput(data=red)))
    assert one.inputs["side"] is None  # fewer images: the rest absent
    with pytest.raises(AdapterError, match="sample s3: the run reads no text"):
        inputs.sample(user("s3", "what is it?", ImageInput(data=red)))
    with pytest.raises(AdapterError, match="sample s4: cannot read the image"):
        inputs.sample(user("s4", ImageInput(data=b"not an image")))


def test_runs_with_other_modalities_are_refused() -> None:
    audio = {"speech": ModalitySpec("speech", "audio", (-1, 64))}
    with pytest.raises(AdapterError, match=r"speech \(audio\)"):
        RunInputs(audio, {})
    texts = {m: ModalitySpec(m, "text", (-1,)) for m in ("text_zh", "text_draft")}
    with pytest.raises(AdapterError, match="several text modalities"):
        RunInputs(texts, {"tokenizers": {}})


def test_request_settings_override_the_runs_decoding() -> None:
    beam = DecodingOptions(strategy="beam", beam_width=3, max_new_tokens=24, stop_strings=("。",))
    greedy = request_decoding(beam, GenerationSettings(max_new_tokens=5, stop=("\n",)))
    assert (greedy.strategy, greedy.beam_width, greedy.max_new_tokens) == ("beam", 3, 5)
    assert greedy.stop_strings == ("。", "\n")
    hot = request_decoding(beam, GenerationSettings(temperature=0.7, top_p=0.9, seed=3))
    assert (hot.strategy, hot.temperature, hot.top_p, hot.seed) == ("sample", 0.7, 0.9, 3)
    sampler = DecodingOptions(strategy="sample", temperature=2.0)
    assert request_decoding(sampler, GenerationSettings()).strategy == "greedy"


@needs_data
def test_beam_search_settings_of_the_run_are_kept(adapter: RunAdapter) -> None:
    test, _, requests = _test_split(adapter)
    gen = adapter.config.generation.model_copy(update={"strategy": "beam", "beam_width": 3})
    saved, adapter.decoding = adapter.decoding, decoding_options(gen)
    try:
        texts = [g.text for g in adapter.generate(requests, GenerationSettings(max_new_tokens=7))]
    finally:
        adapter.decoding = saved
    options = decoding_options(gen).model_copy(update={"max_new_tokens": 7})
    assert texts == list(generation_table(adapter.model, test, adapter.specs, options, 8)[
        "hypothesis"])  # fmt: skip


def test_a_classifier_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "seed: 0\ndata: {name: synthetic, n: 40}\n"
        "model: {encoders: {image: cnn, audio: audio_conv}, fusion: concat}\n"
    )
    with pytest.raises(AdapterError, match=r"does not write text .*only generating runs"):
        create_adapter(str(tmp_path))
    with pytest.raises(AdapterError, match="not a polymodal run"):
        create_adapter(f"run:{tmp_path / 'missing'}")
