"""Tests of polymodal.data.manifest.rows: bad rows, raised together or skipped and recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from manifest_helpers import (
    IMAGE,
    TAB,
    TEXT,
    all_samples,
    build,
    make_png,
    sample_rows,
    write_manifest,
)

from polymodal.errors import DataError

BAD_MODALITIES = {"image": IMAGE, "notes": {"kind": "text", "text_is_path": True}, "tab": TAB}


def _bad_manifest(folder: Path) -> Path:
    make_png(folder / "ok.png", (10, 20, 30))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (folder / "fine.txt").write_text("fine words", encoding="utf-8")
    cells = [  # id, split, image, notes, f1, f2, label
        ("g1", "train", "ok.png", "fine.txt", 1, 2, "x"),
        ("g2", "train", "ok.png", None, 1, 2, "y"),
        ("m1", "train", "gone.png", None, 1, 2, "x"),  # missing file
        ("c1", "test", "broken.png", None, 1, 2, "y"),  # undecodable image
        ("t1", "train", "ok.png", None, "abc", 2, "x"),  # non-numeric tabular value
        ("t2", "val", "ok.png", None, 1, None, "x"),  # tabular partly empty
        ("g1", "train", "ok.png", None, 1, 2, "y"),  # duplicate id
        ("s1", "holdout", "ok.png", None, 1, 2, "y"),  # unknown split
        ("u1", "test", "ok.png", "latin.txt", 1, 2, "y"),  # text file not UTF-8
        ("l1", "test", "ok.png", None, 1, 2, "z"),  # label outside the fixed classes
    ]
    keys = ("id", "split", "image", "notes", "f1", "f2", "label")
    rows = [dict(zip(keys, row, strict=True)) for row in cells]
    return write_manifest(rows, folder / "m.csv")


def test_bad_rows_raise_one_error_naming_each(tmp_path: Path) -> None:
    path = _bad_manifest(tmp_path)
    with pytest.raises(DataError) as info:
        build(path, modalities=BAD_MODALITIES, classes=["x", "y"])
    message = str(info.value)
    assert message.startswith(f"{path}: 8 bad rows in the manifest")
    assert "row 3 (id 'm1'), field 'image', path 'gone.png': image file not found" in message
    assert "row 4 (id 'c1'), field 'image', path 'broken.png': not a readable image" in message
    assert "row 5 (id 't1'), field 'f1': column 'f1': expected a number" in message
    assert "row 6 (id 't2'), field 'f2': tabular modality 'tab' is partly empty" in message
    assert "row 7 (id 'g1'), field 'id': duplicate id (first at row 1)" in message
    assert "row 8 (id 's1'), field 'split': unknown split 'holdout'" in message
    assert (
        "row 9 (id 'u1'), field 'notes', path 'latin.txt': text file is not valid UTF-8" in message
    )
    assert "row 10 (id 'l1'), field 'label': unknown label 'z' (known: x, y)" in message
    assert "bad_rows: skip" in message


def test_bad_rows_skip_records_ids_and_reasons(tmp_path: Path) -> None:
    path = _bad_manifest(tmp_path)
    bundle = build(path, modalities=BAD_MODALITIES, classes=["x", "y"], bad_rows="skip")
    got = [(s.id, s.split, s.field, s.path) for s in bundle.skipped]
    assert got == [
        ("m1", "train", "image", "gone.png"),
        ("c1", "test", "image", "broken.png"),
        ("t1", "train", "f1", None),
        ("t2", "val", "f2", None),
        ("g1", "train", "id", None),
        ("s1", None, "split", None),
        ("u1", "test", "notes", "latin.txt"),
        ("l1", "test", "label", None),
    ]
    reasons = [s.reason for s in bundle.skipped]
    assert reasons[0] == "image file not found"
    assert reasons[4] == "duplicate id (first at row 1)"
    assert "not valid UTF-8" in reasons[6]
    kept = {k: v.ids for k, v in bundle.splits.items()}  # type: ignore[attr-defined]
    assert kept == {"train": ["g1", "g2"], "val": [], "test": []}  # t2 was the only val row
    assert all_samples(bundle)["g1"].inputs["notes"] is not None  # text read from fine.txt


def test_missing_columns_list_the_available_ones(tmp_path: Path) -> None:
    path = write_manifest(sample_rows(tmp_path), tmp_path / "m.csv")
    with pytest.raises(DataError) as info:
        build(path, modalities={"photo": IMAGE, "caption": TEXT}, label="target")
    message = str(info.value)
    assert "'photo', 'target' not found" in message
    assert "available columns: id, split, image, caption, f1, f2, label" in message
    with pytest.raises(DataError, match="id column 'uid' not found"):
        build(path, id_column="uid")
