"""Derived text modalities (``derive:``) in a manifest: computed from the audio of the file a
cell names, once per source content (a counting deriver shows it), cached under the configured
folder only, keyed by the deriver fingerprint, recorded in the state; bad sources follow the
bad-row policy."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import soundfile
import torch
from torch import Tensor

from polymodal.data.derive import DERIVERS, DerivedCache
from polymodal.data.derive.cache import IDENTITY_FILE
from polymodal.data.manifest import manifest_dataset
from polymodal.digest import file_digest
from polymodal.errors import ConfigError, DataError

RATE = 8000


class Loudness:
    """A deterministic audio -> text deriver: ``loud`` / ``quiet`` by RMS, counting its calls."""

    name = "test_loudness"
    source_kind = "audio"
    output_kind = "text"
    sample_rate = RATE
    calls: ClassVar[list[int]] = []  # waveform lengths seen, shared by every instance

    def __init__(self, threshold: float = 0.1) -> None:
        self.threshold = threshold

    def identity(self) -> dict:
        return {"name": self.name, "threshold": self.threshold}

    def __call__(self, value: Tensor) -> str:
        Loudness.calls.append(int(value.numel()))
        rms = float(value.pow(2).mean().sqrt())
        return "loud sound" if rms > self.threshold else "quiet sound"


@pytest.fixture(autouse=True)
def registered():
    DERIVERS.names()  # load the package's derivers first
    DERIVERS.register("test_loudness")(Loudness)
    Loudness.calls.clear()
    yield
    del DERIVERS._entries["test_loudness"]
    DERIVERS._models.pop("test_loudness", None)


def _tone(path: Path, amplitude: float, seconds: float = 0.5) -> None:
    t = np.arange(int(seconds * RATE)) / RATE
    soundfile.write(path, (amplitude * np.sin(2 * np.pi * 300 * t)).astype(np.float32), RATE)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    _tone(tmp_path / "a.wav", 0.8)
    _tone(tmp_path / "b.wav", 0.01)
    (tmp_path / "broken.wav").write_bytes(b"not a sound file" * 10)
    rows = [
        {"id": "r0", "split": "train", "clip": "a.wav", "label": 1.0},
        {"id": "r1", "split": "train", "clip": "b.wav", "label": 0.0},
        {"id": "r2", "split": "test", "clip": "a.wav", "label": 1.0},  # same file as r0
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def build(folder: Path, derive: dict, **options):
    return manifest_dataset(
        seed=0,
        path=folder / "data.jsonl",
        modalities={"words": {"kind": "text", "column": "clip", "derive": derive}},
        label="label",
        task="regression",
        val_fraction=0,
        **options,
    )


def _texts(bundle) -> dict[str, str]:
    vocab = bundle.state["tokenizers"]["words"]
    return {
        s.id: " ".join(vocab["tokens"][int(i)] for i in s.inputs["words"])
        for split in bundle.splits.values()
        for s in split
    }


def test_text_is_derived_once_per_file_then_read_from_the_cache(media: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    bundle = build(media, {"name": "test_loudness"}, derived_cache=str(cache))
    assert _texts(bundle) == {"r0": "loud sound", "r1": "quiet sound", "r2": "loud sound"}
    assert Loudness.calls == [4000, 4000]  # a.wav once (two rows), b.wav once: 0.5 s at 8 kHz
    record = bundle.state["derived"]["words"]
    assert record["deriver"] == "test_loudness"
    assert record["source_column"] == "clip"
    assert record["cache"] == str(cache)
    entry = DerivedCache(cache, Loudness(), {"sample_rate": RATE, "from_video": None})
    assert record["fingerprint"] == entry.fingerprint
    stored = json.loads(entry.path(file_digest(media / "a.wav")).read_text())
    assert stored == {"value": "loud sound", "source": "a.wav"}
    assert json.loads((entry.folder / IDENTITY_FILE).read_text())["deriver"]["threshold"] == 0.1

    again = build(media, {"name": "test_loudness"}, derived_cache=str(cache))
    assert Loudness.calls == [4000, 4000]  # nothing computed the second time
    assert _texts(again) == _texts(bundle)
    # another option is another fingerprint: computed again, in another folder
    other = build(media, {"name": "test_loudness", "threshold": 0.9}, derived_cache=str(cache))
    assert len(Loudness.calls) == 4
    assert _texts(other)["r0"] == "quiet sound"
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2


def test_the_cache_follows_content_not_names(media: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    build(media, {"name": "test_loudness"}, derived_cache=str(cache))
    os.replace(media / "a.wav", media / "renamed.wav")
    rows = [{"id": "r0", "split": "train", "clip": "renamed.wav", "label": 1.0}]
    (media / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    bundle = build(media, {"name": "test_loudness"}, derived_cache=str(cache))
    assert _texts(bundle) == {"r0": "loud sound"}
    assert len(Loudness.calls) == 2
    _tone(media / "renamed.wav", 0.02)  # new content under the same name: derived again
    assert _texts(build(media, {"name": "test_loudness"}, derived_cache=str(cache))) == {
        "r0": "quiet sound"
    }
    assert len(Loudness.calls) == 3


def test_without_a_cache_folder_nothing_is_written(media: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    bundle = build(media, {"name": "test_loudness"})
    assert _texts(bundle)["r1"] == "quiet sound"
    assert len(Loudness.calls) == 2
    assert bundle.state["derived"]["words"]["cache"] is None
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_bad_sources_follow_the_bad_row_policy(media: Path, tmp_path: Path):
    rows = [
        {"id": "r0", "split": "train", "clip": "a.wav", "label": 1.0},
        {"id": "r1", "split": "train", "clip": "broken.wav", "label": 0.0},
        {"id": "r2", "split": "train", "clip": "gone.wav", "label": 0.0},
    ]
    (media / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for cache in (None, str(tmp_path / "cache")):
        with pytest.raises(DataError) as info:
            build(media, {"name": "test_loudness"}, derived_cache=cache)
        message = str(info.value)
        assert "2 bad rows" in message
        assert "row 2 (id 'r1'), field 'clip', path 'broken.wav'" in message
        assert "row 3 (id 'r2'), field 'clip', path 'gone.wav'" in message
        skipped = build(media, {"name": "test_loudness"}, derived_cache=cache, bad_rows="skip")
        assert sorted(s.id for s in skipped.skipped) == ["r1", "r2"]


@pytest.mark.parametrize(
    ("derive", "extra", "message"),
    [
        ({"name": "nope"}, {}, "unknown deriver 'nope'; use one of: asr"),
        ({"threshold": 1}, {}, "derive: needs name"),
        ({"name": "test_loudness", "bogus": 1}, {}, "bogus"),
        ({"name": "test_loudness"}, {"text_is_path": True}, "drop text_is_path"),
    ],
)
def test_derive_option_errors(media: Path, derive: dict, extra: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        manifest_dataset(
            seed=0,
            path=media / "data.jsonl",
            modalities={"w": {"kind": "text", "column": "clip", "derive": derive, **extra}},
            label="label",
            task="regression",
        )


def test_from_video_on_text_needs_derive(media: Path):
    with pytest.raises(ConfigError, match="from_video applies to text only with derive"):
        manifest_dataset(
            seed=0,
            path=media / "data.jsonl",
            modalities={"w": {"kind": "text", "column": "clip", "from_video": True}},
            label="label",
            task="regression",
        )


def test_derived_text_is_a_text_modality_for_the_model(media: Path):
    bundle = build(media, {"name": "test_loudness"})
    spec = bundle.info.modalities["words"]
    assert spec.kind == "text"
    assert spec.is_sequence
    sample = bundle.splits["train"][0]
    assert sample.inputs["words"].dtype == torch.int64


def test_a_run_derives_once_records_it_and_evaluation_reuses_the_cache(media: Path, tmp_path):
    from polymodal.config import parse_config
    from polymodal.evaluate.run import EvaluationOptions, evaluate_run
    from polymodal.train.run import train

    cache = tmp_path / "cache"
    before = {p.name for p in tmp_path.iterdir()}
    data = {
        "name": "manifest",
        "path": str(media / "data.jsonl"),
        "modalities": {
            "words": {"kind": "text", "column": "clip", "derive": {"name": "test_loudness"}}
        },
        "label": "label",
        "task": "regression",
        "val_fraction": 0,
        "derived_cache": str(cache),
    }
    model = {
        "encoders": {"words": {"name": "text_gru", "out_dim": 4, "embed_dim": 4, "hidden_dim": 4}},
        "head": "regression",
    }
    config = parse_config(
        {"data": data, "model": model, "train": {"max_epochs": 1, "progress": False}}
    )
    run = tmp_path / "run"
    train(config, run)
    assert len(Loudness.calls) == 2  # a.wav and b.wav, once each
    state = json.loads((run / "checkpoint" / "data_state.json").read_text())
    assert state["derived"]["words"]["deriver"] == "test_loudness"
    assert state["derived"]["words"]["cache"] == str(cache)
    assert str(cache) in (run / "config.yaml").read_text()  # the snapshot says where
    evaluate_run(run, options=EvaluationOptions(resamples=0))
    assert len(Loudness.calls) == 2  # evaluation read the cache: nothing derived again
    assert {p.name for p in tmp_path.iterdir()} - before == {"cache", "run"}  # nothing elsewhere


def test_decoding_on_access_does_not_derive_again(media: Path):
    bundle = build(media, {"name": "test_loudness"}, cache_in_memory=False)
    assert len(Loudness.calls) == 2
    texts = [_texts(bundle) for _ in range(3)]  # every access decodes the row again
    assert texts[0] == {"r0": "loud sound", "r1": "quiet sound", "r2": "loud sound"}
    assert texts[0] == texts[2]
    assert len(Loudness.calls) == 2
