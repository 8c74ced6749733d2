"""Tests of polymodal.data.manifest.labels: multiclass, multilabel and regression targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from manifest_helpers import (
    TEXT,
    build,
    write_manifest,
)


def test_multiclass_integer_labels_sort_numerically(tmp_path: Path) -> None:
    rows = [{"split": "train", "text": "x", "label": v} for v in (10, 2, 0, 2)]
    for suffix in (".jsonl", ".csv"):
        path = write_manifest(rows, tmp_path / f"m{suffix}")
        bundle = build(path, modalities={"text": TEXT}, val_fraction=0.0)
        assert bundle.info.task.class_names == ("0", "2", "10")
        targets = [s.target.item() for s in bundle.splits["train"]]  # type: ignore[attr-defined]
        assert sorted(targets) == [0, 1, 1, 2]


def test_multilabel_from_names_and_from_flag_columns(tmp_path: Path) -> None:
    rows = [
        {"split": "train", "text": "x", "tags": "cat;dog", "is_cat": 1, "is_dog": 1},
        {"split": "train", "text": "y", "tags": None, "is_cat": 0, "is_dog": 0},
        {"split": "train", "text": "z", "tags": "dog", "is_cat": "0", "is_dog": "1"},
    ]
    common: dict[str, Any] = {"modalities": {"text": TEXT}, "task": "multilabel"}
    common["val_fraction"] = 0.0  # keep the three rows in train
    names = build(write_manifest(rows, tmp_path / "n.csv"), label="tags", **common)
    flags = build(write_manifest(rows, tmp_path / "f.csv"), label=["is_cat", "is_dog"], **common)
    listed = [dict(r, tags=r["tags"].split(";") if r["tags"] else []) for r in rows]
    lists = build(write_manifest(listed, tmp_path / "l.jsonl"), label="tags", **common)
    expected = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    for bundle in (names, flags, lists):
        assert bundle.info.task.num_outputs == 2
        got = torch.stack([s.target for s in bundle.splits["train"]])  # type: ignore[attr-defined]
        torch.testing.assert_close(got, expected)
    assert names.info.task.class_names == ("cat", "dog")
    assert flags.info.task.class_names == ("is_cat", "is_dog")


def test_regression_targets_and_bad_values(tmp_path: Path) -> None:
    rows = [
        {"split": "train", "text": "x", "y1": 0.5, "y2": "-1.25"},
        {"split": "train", "text": "y", "y1": 2, "y2": "inf"},
    ]
    bundle = build(write_manifest(rows, tmp_path / "r.jsonl"), modalities={"text": TEXT},
                    label=["y1", "y2"], task="regression", bad_rows="skip",
                    val_fraction=0.0)  # fmt: skip
    assert bundle.info.task.target_names == ("y1", "y2")
    (sample,) = list(bundle.splits["train"])  # type: ignore[call-overload]
    torch.testing.assert_close(sample.target, torch.tensor([0.5, -1.25]))
    assert [(s.id, s.field) for s in bundle.skipped] == [("2", "y2")]
    assert "not finite" in bundle.skipped[0].reason
