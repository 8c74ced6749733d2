"""The supervised presets, whose encoders are keyed ``image`` and ``audio``, on a video manifest
whose modalities are ``frames`` (video), ``audio`` (a clip's track) and ``text``: the documented
mapping (``image: null`` drops the image encoder, ``frames`` wraps it in a ``video`` encoder,
``audio`` is kept as it is, ``text`` added, ``head: regression`` unless the fusion owns its
heads) builds each preset with its
interaction and fusion unchanged, and predicts one score per clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from polymodal.config import parse_config
from polymodal.data.collate import collate_samples
from polymodal.data.manifest import manifest_dataset
from polymodal.models.builder import build_model
from polymodal.presets import is_towers, load_preset, preset_names

SUPERVISED = [
    name
    for name in preset_names()
    if not is_towers(load_preset(name)) and {"image", "audio"} <= set(load_preset(name)["encoders"])
]
MODALITIES = {
    "frames": {"kind": "video", "column": "clip", "num_frames": 3, "size": [16, 16]},
    "audio": {"kind": "audio", "column": "sound", "sample_rate": 8000, "n_mels": 16},
    "text": {"kind": "text", "column": "transcript", "max_length": 8},
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("video_manifest")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        clip = folder / f"clip{i}"
        clip.mkdir()
        for k in range(4):  # a clip given as a folder of frames
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(clip / f"f{k}.png")
        soundfile.write(folder / f"s{i}.wav", rng.standard_normal(4000) * 0.1, 8000)
        rows.append(
            {"clip": f"clip{i}", "sound": f"s{i}.wav", "transcript": f"words {i}", "y": i - 3.5}
        )
    path = folder / "clips.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def mapped(preset: str) -> dict[str, Any]:
    """The documented mapping of a preset onto frames / audio / text."""
    image = dict(load_preset(preset)["encoders"]["image"])
    frame_encoder = image.pop("name")
    return {
        "preset": preset,
        "encoders": {
            "image": None,
            "frames": {
                "name": "video",
                "frame_encoder": frame_encoder,
                "frame_encoder_params": image,
            },
            "text": {"name": "text_gru", "out_dim": 16, "embed_dim": 16, "hidden_dim": 16},
        },
        # late fusion owns its per-modality heads (they follow the task): no head after it
        "head": None if load_preset(preset)["head"] is None else "regression",
    }


def test_every_image_audio_preset_is_covered() -> None:
    assert {"late", "tfn", "lmf", "mult", "mmbt", "gated"} <= set(SUPERVISED)


@pytest.mark.parametrize("preset", SUPERVISED)
def test_preset_maps_onto_frames_audio_text(manifest: Path, preset: str) -> None:
    data = {
        "name": "manifest",
        "path": str(manifest),
        "modalities": MODALITIES,
        "label": "y",
        "task": "regression",
    }
    config = parse_config({"data": data, "model": mapped(preset)})
    assert config.model is not None
    assert set(config.model.encoders) == {"frames", "audio", "text"}
    content = load_preset(preset)
    assert config.model.encoders["audio"].params == {
        k: v for k, v in content["encoders"]["audio"].items() if k != "name"
    }
    if content.get("fusion"):
        assert config.model.fusion.name == content["fusion"]["name"]
    bundle = manifest_dataset(seed=0, **config.data.params)
    model = build_model(config.model, bundle.info).eval()
    samples = [bundle.splits["train"][i] for i in range(3)]
    with torch.no_grad():
        out = model(collate_samples(samples, bundle.info.modalities)).output
    assert out.shape == (3, 1)
    assert torch.isfinite(out).all()
