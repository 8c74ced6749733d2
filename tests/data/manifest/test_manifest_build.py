"""Tests of polymodal.data.manifest.build: samples, caching, registry, collate, real data."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
import torch
from manifest_helpers import (
    FLICKR,
    FSDD,
    all_samples,
    build,
    sample_rows,
    split_ids,
    write_manifest,
)

from polymodal.data.collate import collate_samples
from polymodal.data.loaders.image import load_image
from polymodal.data.manifest import ManifestModality
from polymodal.data.transforms.image import resize_image
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS


def test_sample_values_and_missing_modalities(tmp_path: Path) -> None:
    bundle = build(write_manifest(sample_rows(tmp_path), tmp_path / "m.jsonl"))
    samples = all_samples(bundle)
    info = bundle.info
    assert info.task.class_names == ("blue", "green", "red")  # sorted by code point
    assert info.modalities["image"].shape == (3, 4, 6)
    assert info.modalities["tab"].shape == (2,)
    assert info.modalities["caption"].shape == (-1,)
    # a solid red PNG stays solid red after resizing
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 4, 6)
    torch.testing.assert_close(samples["a"].inputs["image"], red)
    torch.testing.assert_close(samples["a"].inputs["tab"], torch.tensor([1.5, -2.0]))
    assert samples["a"].target.dtype == torch.int64
    assert samples["a"].target.item() == 2
    assert samples["b"].inputs["caption"] is None  # null caption: missing, not a bad row
    assert samples["c"].inputs["image"] is None
    assert samples["d"].inputs["tab"] is None  # every tabular cell empty
    # vocabulary: train captions only ("A red square.", "a blue square"), ties by code point
    tokens = bundle.state["tokenizers"]["caption"]["tokens"]
    assert tokens == ["<pad>", "<unk>", "a", "square", ".", "blue", "red"]
    assert samples["c"].inputs["caption"].tolist() == [2, 1, 3]  # "green" was never trained on
    assert samples["d"].inputs["caption"].tolist() == [5, 1, 1]  # "zebra", "!" unknown
    assert bundle.skipped == []


def test_cache_off_decodes_on_access(tmp_path: Path) -> None:
    path = write_manifest(sample_rows(tmp_path), tmp_path / "m.jsonl")
    cached = build(path)
    lazy = build(path, cache_in_memory=False)
    for split in ("train", "val", "test"):
        for x, y in zip(cached.splits[split], lazy.splits[split], strict=True):  # type: ignore[call-overload]
            assert x.id == y.id
            for name, value in x.inputs.items():
                assert (value is None and y.inputs[name] is None) or torch.equal(
                    value, y.inputs[name]
                )
    (tmp_path / "img" / "red.png").unlink()
    assert cached.splits["train"][0].inputs["image"] is not None
    with pytest.raises(DataError, match="row 1 \\(id 'a'\\), field 'image'"):
        lazy.splits["train"][0]


def test_registry_validates_params_and_builder_accepts_dicts(tmp_path: Path) -> None:
    params_model = DATASETS.params_model("manifest")
    ok = params_model.model_validate(
        {"path": "m.csv", "modalities": {"photo": {"kind": "image", "size": 32}}, "label": "y"}
    )
    assert ok.modalities["photo"] == ManifestModality(kind="image", size=(32, 32))
    for bad, fragment in (
        ({"kind": "image", "n_mels": 40}, "n_mels do not apply to image modalities"),
        ({"kind": "tabular"}, "needs columns"),
        ({"kind": "text", "tokenizer": "hf"}, "needs tokenizer_path"),
        ({"kind": "image", "mean": [0.5]}, "both mean and std"),
    ):
        with pytest.raises(ValueError, match=fragment):  # a pydantic.ValidationError
            params_model.model_validate({"path": "m.csv", "modalities": {"m": bad}, "label": "y"})
    path = write_manifest(sample_rows(tmp_path), tmp_path / "m.jsonl")
    with pytest.raises(ConfigError, match=r"modalities\.image"):
        build(path, modalities={"image": {"kind": "image", "max_length": 3}})
    assert "manifest" in DATASETS.names()


def test_collate_of_manifest_samples(tmp_path: Path) -> None:
    bundle = build(write_manifest(sample_rows(tmp_path), tmp_path / "m.jsonl"))
    samples = list(bundle.splits["train"])  # type: ignore[call-overload]  # a, b (no caption), e
    batch = collate_samples(samples, bundle.info.modalities)
    caption = batch.inputs["caption"]
    assert caption.present.tolist() == [True, False, True]
    assert caption.values.shape == (3, 4)  # "A red square." has 4 tokens
    assert caption.padding_mask.tolist() == [
        [False, False, False, False],
        [False, True, True, True],  # missing: one non-padding position
        [False, False, False, True],
    ]
    assert batch.target.tolist() == [2, 1, 0]
    assert batch.inputs["image"].values.shape == (3, 3, 4, 6)


def test_flickr_photos_and_captions(tmp_path: Path) -> None:
    if not (FLICKR / "captions.csv").is_file():
        pytest.skip(f"needs {FLICKR} (the shared flickr8k-1k data set), absent here")
    with (FLICKR / "captions.csv").open(encoding="utf-8") as handle:
        first_caption: dict[str, str] = {}
        for row in csv.DictReader(handle):
            first_caption.setdefault(row["image"], row["caption"])
    chosen = list(first_caption.items())[:40]
    (tmp_path / "images").mkdir()
    rows = []
    for image, caption in chosen:
        shutil.copy(FLICKR / "images" / image, tmp_path / "images" / image)
        rows.append({"id": image, "image": f"images/{image}", "caption": caption,
                     "label": int("dog" in caption.lower())})  # fmt: skip
    path = write_manifest(rows, tmp_path / "flickr.csv")
    modalities = {"image": {"kind": "image", "size": [32, 40]}, "caption": {"kind": "text"}}
    bundle = build(path, modalities=modalities, val_fraction=0.2, test_fraction=0.2)
    ids = split_ids(bundle)
    assert [len(ids[s]) for s in ("train", "val", "test")] == [24, 8, 8]
    samples = all_samples(bundle)
    image, caption = chosen[0]
    expected = resize_image(load_image(FLICKR / "images" / image), (32, 40))
    torch.testing.assert_close(samples[image].inputs["image"], expected)

    def words(text: str) -> list[str]:
        return re.findall(r"\w+|[^\w\s]", text.lower())

    train_words = {w for i in ids["train"] for w in words(first_caption[i])}
    tokens = bundle.state["tokenizers"]["caption"]["tokens"]
    assert set(tokens[2:]) == train_words
    for i in ids["test"]:
        got = samples[i].inputs["caption"].tolist()
        assert got == [tokens.index(w) if w in train_words else 1 for w in words(first_caption[i])]


def test_fsdd_audio_column(tmp_path: Path) -> None:
    names = ["0_george_0.wav", "1_george_0.wav", "2_jackson_0.wav", "3_theo_0.wav"]
    if not all((FSDD / n).is_file() for n in names):
        pytest.skip(f"needs {FSDD} (the shared fsdd data set), absent here")
    import soundfile as sf

    from polymodal.data.loaders.audio import load_audio
    from polymodal.data.transforms.audio import LogMelSpectrogram

    (tmp_path / "rec").mkdir()
    for n in names:
        shutil.copy(FSDD / n, tmp_path / "rec" / n)
    (tmp_path / "rec" / "bad.wav").write_bytes(b"RIFF....WAVEnot audio")
    rows = [{"id": n, "split": "train", "audio": f"rec/{n}", "label": n[0]} for n in names]
    rows.append({"id": "silent", "split": "train", "audio": None, "label": "0"})
    rows.append({"id": "bad", "split": "test", "audio": "rec/bad.wav", "label": "1"})
    audio = {"kind": "audio", "sample_rate": 8000, "n_mels": 20, "max_seconds": 0.25}
    bundle = build(write_manifest(rows, tmp_path / "a.jsonl"), modalities={"audio": audio},
                    bad_rows="skip")  # fmt: skip
    assert bundle.info.modalities["audio"].shape == (-1, 20)
    assert [(s.id, s.field, s.path) for s in bundle.skipped] == [("bad", "audio", "rec/bad.wav")]
    samples = all_samples(bundle)
    assert samples["silent"].inputs["audio"] is None
    features = LogMelSpectrogram(8000, n_mels=20, n_fft=200, hop_length=80)  # 25 ms / 10 ms
    for n in names:
        got = samples[n].inputs["audio"]
        length = min(sf.info(str(FSDD / n)).frames, 2000)  # 8 kHz files, cut at 0.25 s
        assert got.shape == (1 + length // 80, 20)
        expected = features(load_audio(tmp_path / "rec" / n, 8000)[:2000])
        torch.testing.assert_close(got, expected)
