"""Tests of the ``caption-summary`` dataset (a photo plus three captions in, the other two as
references) on a small captions file and on Flickr8k-1k, and of its configs."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.config import load_config
from polymodal.data.builtin.caption_summary import caption_summary, choose_inputs, summary_rows
from polymodal.data.splits import random_group_split
from polymodal.errors import ConfigError, DataError
from polymodal.evaluate.run import EvaluationOptions, evaluate_run
from polymodal.train.run import train

ROOT = Path(__file__).parents[3]
FLICKR = ROOT / ".." / "shared" / "data" / "flickr8k-1k" / "captions.csv"
needs_data = pytest.mark.skipif(not FLICKR.is_file(), reason="needs ../shared/data (Flickr8k-1k)")
TEXT = {"text": {"kind": "text", "column": "captions", "tokenizer": "word", "max_length": 64}}
CONFIGS = sorted((ROOT / "configs").glob("summarise-flickr8k-*.yaml"))


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption"])
        writer.writerows(rows)
    return path


def _photos(n: int, per: int = 5) -> list[tuple[str, str]]:
    return [(f"p{i}.jpg", f"photo {i} caption {j} .") for i in range(n) for j in range(per)]


def test_choice_is_the_sha256_seeded_permutation() -> None:
    digest = hashlib.sha256(b"0:a.jpg").digest()
    perm = np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(5)
    assert choose_inputs("a.jpg", 5, 3) == [int(i) for i in perm[:3]]
    assert choose_inputs("a.jpg", 5, 3) == choose_inputs("a.jpg", 5, 3)
    picks = {tuple(choose_inputs(f"p{i}.jpg", 5, 3)) for i in range(30)}
    assert len(picks) > 5  # depends on the photo
    reseeded = [choose_inputs(f"p{i}.jpg", 5, 3, choice_seed=1) for i in range(10)]
    assert reseeded != [choose_inputs(f"p{i}.jpg", 5, 3) for i in range(10)]


def test_rows_inputs_and_references_partition_the_captions() -> None:
    raw = [{"image": p, "caption": c} for p, c in _photos(20)]
    rows, chosen = summary_rows(raw, "image", "caption", 3, " | ", 0, "f")
    assert [r["id"] for r in rows] == [f"p{i}.jpg" for i in range(20)]
    for row in rows:
        captions = [c for p, c in _photos(20) if p == row["image"]]
        given = row["captions"].split(" | ")
        assert given == [captions[i] for i in chosen[row["image"]]]
        assert not set(given) & set(row["references"])
        assert sorted(given + row["references"]) == sorted(captions)
        assert row["references"] == [c for c in captions if c not in given]  # file order


def test_choice_does_not_depend_on_the_order_of_photos() -> None:
    raw = [{"image": p, "caption": c} for p, c in _photos(10)]
    by_photo = defaultdict(list)
    for r in raw:
        by_photo[r["image"]].append(r)
    reordered = [r for p in reversed(list(by_photo)) for r in by_photo[p]]
    _, a = summary_rows(raw, "image", "caption", 3, " | ", 0, "f")
    _, b = summary_rows(reordered, "image", "caption", 3, " | ", 0, "f")
    assert a == b


def test_a_reference_repeating_an_input_caption_is_left_out() -> None:
    # a photo whose input captions hold position 0 but not 1: caption 1 (the same text) would
    # be a reference by position
    photo = next(
        f"x{i}.jpg" for i in range(100)
        if 0 in (p := choose_inputs(f"x{i}.jpg", 5, 3)) and 1 not in p
    )  # fmt: skip
    raw = [{"image": photo, "caption": c} for c in ["a dog .", "a dog .", "b", "c", "d"]]
    rows, _ = summary_rows(raw, "image", "caption", 3, " | ", 0, "f")
    assert "a dog ." in rows[0]["captions"].split(" | ")
    assert "a dog ." not in rows[0]["references"]
    assert len(rows[0]["references"]) == 1


def test_bad_input_errors(tmp_path: Path) -> None:
    short = _write(tmp_path / "short.csv", [*_photos(3), ("few.jpg", "one ."), ("few.jpg", "two")])
    with pytest.raises(DataError, match=r"few.jpg \(2\)"):
        caption_summary(seed=0, path=short, modalities=TEXT)
    with pytest.raises(DataError, match="columns"):
        caption_summary(seed=0, path=short, modalities=TEXT, caption_column="text")
    with pytest.raises(ConfigError, match="inputs"):
        caption_summary(seed=0, path=short, modalities=TEXT, inputs=0)
    empty = _write(tmp_path / "empty.csv", [*_photos(3), ("e.jpg", "")])
    with pytest.raises(DataError, match="row 16"):
        caption_summary(seed=0, path=empty, modalities=TEXT)


def test_state_records_the_choice_and_rebuilds(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", _photos(30))
    bundle = caption_summary(seed=0, path=path, modalities=TEXT)
    assert bundle.info.task.type == "generation"
    _, chosen = summary_rows(
        [{"image": p, "caption": c} for p, c in _photos(30)], "image", "caption", 3, " | ", 0, "f"
    )
    assert bundle.state["inputs"] == chosen
    again = caption_summary(seed=0, path=path, modalities=TEXT, state=bundle.state)
    first, second = bundle.splits["test"][0], again.splits["test"][0]
    assert first.id == second.id
    assert first.inputs["text"].tolist() == second.inputs["text"].tolist()
    with pytest.raises(DataError, match="another choice"):
        caption_summary(seed=0, path=path, modalities=TEXT, state=bundle.state, choice_seed=1)


@needs_data
def test_flickr8k_split_by_photo_as_the_caption_config() -> None:
    bundle = caption_summary(seed=0, path=FLICKR, modalities=TEXT)
    ids = {s: [bundle.splits[s][i].id for i in range(len(bundle.splits[s]))] for s in bundle.splits}
    assert {s: len(v) for s, v in ids.items()} == {"train": 800, "val": 100, "test": 100}
    with FLICKR.open() as f:
        photos = [row["image"] for row in csv.DictReader(f)]
    splits = random_group_split(photos, 0.1, 0.1, 0)  # benchmarks/caption_baselines.py's split
    expected = {p for p, s in zip(photos, splits, strict=True) if s == "test"}
    assert set(ids["test"]) == expected
    assert not set(ids["train"]) & (set(ids["val"]) | set(ids["test"]))
    sample = bundle.splits["test"][0]
    assert len(sample.references) == 2


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_summarise_configs_parse(path: Path) -> None:
    config = load_config(path)
    assert config.data.name == "caption-summary"
    assert config.model is not None
    assert config.model.decoder is not None
    assert set(config.model.encoders) <= set(config.data.params["modalities"])


def test_the_three_summarise_configs_exist() -> None:
    assert [p.stem for p in CONFIGS] == [
        "summarise-flickr8k-both",
        "summarise-flickr8k-photo",
        "summarise-flickr8k-text",
    ]


@needs_data
def test_both_config_trains_and_evaluates_on_a_subset(tmp_path: Path) -> None:
    """summarise-flickr8k-both on 20 photos, one epoch: each test photo is scored against its
    two references, which are none of its three input captions."""
    with FLICKR.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    photos = sorted({r["image"] for r in rows})[:20]
    subset = _write(tmp_path / "c.csv", [(r["image"], r["caption"]) for r in rows
                                         if r["image"] in photos])  # fmt: skip
    config = load_config(ROOT / "configs" / "summarise-flickr8k-both.yaml")
    data = config.data.model_copy(
        update={"path": str(subset), "root": str((FLICKR.parent / "images").resolve())}
    )
    train_cfg = config.train.model_copy(update={"max_epochs": 1, "batch_size": 4})
    config = config.model_copy(update={"data": data, "train": train_cfg})
    train(config, tmp_path / "run")
    result = evaluate_run(tmp_path / "run", options=EvaluationOptions(resamples=10))
    table = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert len(table) == 2  # 10 % of 20 photos
    by_photo: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_photo[r["image"]].append(r["caption"].strip())
    for photo, refs in zip(table["image"], table["references"], strict=True):
        captions = by_photo[Path(photo).name]
        picked = choose_inputs(Path(photo).name, 5, 3)
        assert list(refs) == [c for i, c in enumerate(captions) if i not in picked]
    assert set(result.metrics) >= {"cider_d", "bleu", "meteor", "rougeL"}
