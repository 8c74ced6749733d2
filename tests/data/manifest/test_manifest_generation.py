"""Tests of task ``generation`` in manifests: reference columns, groups, bad references."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from polymodal.data.collate import collate_samples
from polymodal.data.manifest import manifest_dataset
from polymodal.errors import ConfigError, DataError

FLICKR = Path(__file__).parents[3] / ".." / "shared" / "data" / "flickr8k-1k"
TEXT = {"src": {"kind": "text", "tokenizer": "word", "max_length": 16}}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _build(path: Path, **kw):
    params = {"modalities": TEXT, "label": "refs", "task": "generation", "val_fraction": 0.0}
    return manifest_dataset(seed=0, path=path, **(params | kw))


def test_list_column_gives_references_and_no_target(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "split": "train", "src": "ein Hund", "refs": ["a dog", "one dog"]},
        {"id": "b", "split": "train", "src": "eine Katze", "refs": "a cat"},
        {"id": "c", "split": "test", "src": "ein Haus", "refs": ["a house"]},
    ]
    bundle = _build(_jsonl(tmp_path / "m.jsonl", rows))
    assert bundle.info.task.type == "generation"
    assert bundle.state["class_names"] is None
    train = [bundle.splits["train"][i] for i in range(2)]
    assert [s.references for s in train] == [("a dog", "one dog"), ("a cat",)]
    assert all(s.target is None for s in train)
    batch = collate_samples(train, bundle.info.modalities)
    assert batch.references == [("a dog", "one dog"), ("a cat",)]
    assert batch.target is None
    assert bundle.splits["test"][0].references == ("a house",)


def test_csv_json_list_cell_is_several_references(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["id", "split", "src", "refs"])
        w.writerow(["a", "train", "x", json.dumps(["one", "two"])])
        w.writerow(["b", "train", "y", "[not json"])
    bundle = _build(path)
    refs = [bundle.splits["train"][i].references for i in range(2)]
    assert refs == [("one", "two"), ("[not json",)]


@pytest.mark.parametrize(
    ("refs", "reason"),
    [
        (None, "reference list is empty"),
        ([], "reference list is empty"),
        (["ok", "  "], "reference 2 is empty"),
        ([3], "reference 1 is a int"),
    ],
)
def test_bad_references_name_the_row(tmp_path: Path, refs, reason: str) -> None:
    rows = [
        {"id": "a", "split": "train", "src": "x", "refs": ["fine"]},
        {"id": "bad-one", "split": "train", "src": "y", "refs": refs},
    ]
    with pytest.raises(DataError, match=rf"row 2 \(id 'bad-one'\), field 'refs'.*{reason}"):
        _build(_jsonl(tmp_path / "m.jsonl", rows))
    bundle = _build(_jsonl(tmp_path / "m.jsonl", rows), bad_rows="skip")
    assert [s.id for s in bundle.skipped] == ["bad-one"]


def test_non_utf8_parquet_cell_names_row_and_offset(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "split": ["train", "train"],
            "src": ["x", "y"],
            "refs": [[b"good"], [b"ok", b"caf\xe9 noir"]],
        }
    )
    path = tmp_path / "m.parquet"
    frame.to_parquet(path)
    # "caf" is 3 bytes: the invalid 0xe9 is at offset 3 of the second reference
    with pytest.raises(DataError, match=r"row 2 \(id 'b'\).*reference 2 is not UTF-8 at byte "
                       r"offset 3 \(byte 0xe9\)"):  # fmt: skip
        _build(path)


def test_non_utf8_jsonl_file_names_line_and_offset(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "split": "train", "src": "x", "refs": ["a"]}) + "\n"
    bad = b'{"id": "b", "split": "train", "src": "y", "refs": ["caf\xe9"]}\n'
    path = tmp_path / "m.jsonl"
    path.write_bytes(good.encode() + bad)
    offset_in_line = bad.index(b"\xe9")
    with pytest.raises(DataError, match=rf"line 2, byte offset {offset_in_line} in the line"):
        _build(path)


def test_group_rows_become_one_sample_with_every_reference(tmp_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "src": src, "refs": ref, "photo": key}
        for i, (key, src, ref) in enumerate(
            [("p1", "a", "x one"), ("p2", "b", "y one"), ("p1", "a", "x two"), ("p2", "b", "y 2")]
        )
    ]
    path = _jsonl(tmp_path / "m.jsonl", rows)
    bundle = _build(path, group_column="photo", val_fraction=0.0, test_fraction=0.0)
    train = bundle.splits["train"]
    assert len(train) == 2
    assert [(train[i].id, train[i].references) for i in range(2)] == [
        ("r0", ("x one", "x two")),
        ("r1", ("y one", "y 2")),
    ]


def test_group_rows_naming_different_items_are_bad(tmp_path: Path) -> None:
    rows = [
        {"id": "r0", "src": "a", "refs": "x", "photo": "p1"},
        {"id": "r1", "src": "b", "refs": "y", "photo": "p1"},
    ]
    with pytest.raises(DataError, match="rows of group 'p1' name different src items"):
        _build(_jsonl(tmp_path / "m.jsonl", rows), group_column="photo", val_fraction=0.0,
               test_fraction=0.0)  # fmt: skip


def test_generation_needs_one_reference_column(tmp_path: Path) -> None:
    rows = [{"id": "a", "src": "x", "refs": "y", "more": "z"}]
    with pytest.raises(DataError, match="one reference column"):
        _build(_jsonl(tmp_path / "m.jsonl", rows), label=["refs", "more"])
    with pytest.raises(ConfigError, match="needs a label column"):
        _build(_jsonl(tmp_path / "m.jsonl", rows), label=None)


@pytest.mark.skipif(not (FLICKR / "captions.csv").is_file(), reason="needs ../shared/data")
def test_flickr8k_five_captions_are_five_references(tmp_path: Path) -> None:
    lines = (FLICKR / "captions.csv").read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "captions.csv"
    subset.write_text("\n".join(lines[:16]) + "\n", encoding="utf-8")  # 3 photos, 15 captions
    expected: dict[str, list[str]] = {}
    for row in csv.DictReader(subset.open(encoding="utf-8")):
        expected.setdefault(row["image"], []).append(row["caption"])
    bundle = manifest_dataset(
        seed=0,
        path=subset,
        root=str(FLICKR / "images"),
        modalities={"image": {"kind": "image", "column": "image", "size": [8, 8]}},
        label="caption",
        task="generation",
        group_column="image",
        val_fraction=0.0,
        test_fraction=0.0,
    )
    train = bundle.splits["train"]
    assert len(train) == 3
    got = sorted(train[i].references for i in range(3))
    assert got == sorted(tuple(v) for v in expected.values())
    assert all(len(r) == 5 for r in got)
