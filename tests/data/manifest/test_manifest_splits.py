"""Tests of polymodal.data.manifest.splits: split column, aliases, seeded random splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from manifest_helpers import (
    TEXT,
    build,
    split_ids,
    write_manifest,
)

from polymodal.data.manifest import manifest_dataset


def _plain_rows(n: int, folder: Path) -> Path:
    rows = [{"text": f"w{i % 5} common", "label": i % 2} for i in range(n)]
    return write_manifest(rows, folder / "plain.jsonl")


def test_random_split_is_seeded_and_sized(tmp_path: Path) -> None:
    path = _plain_rows(50, tmp_path)
    params: dict[str, Any] = {"modalities": {"text": TEXT}, "label": "label"}
    params.update(val_fraction=0.2, test_fraction=0.1)
    first = split_ids(manifest_dataset(seed=3, path=path, **params))
    again = split_ids(manifest_dataset(seed=3, path=path, **params))
    other = split_ids(manifest_dataset(seed=4, path=path, **params))
    pinned = split_ids(manifest_dataset(seed=4, split_seed=3, path=path, **params))
    assert first == again == pinned
    assert first != other
    assert [len(first[s]) for s in ("train", "val", "test")] == [35, 10, 5]
    assert sorted([i for ids in first.values() for i in ids], key=int) == [
        str(i) for i in range(1, 51)
    ]
    # the same permutation as numpy's seeded generator
    order = np.random.default_rng(3).permutation(50)
    assert sorted(first["test"], key=int) == [str(i + 1) for i in sorted(order[:5])]


def test_split_aliases_and_val_carved_from_train(tmp_path: Path) -> None:
    rows = [{"split": s, "text": "x", "label": i % 2} for i, s in enumerate(
        ["train", "Valid", " dev ", "validation", "TEST", "train", "train"])]  # fmt: skip
    ids = split_ids(build(write_manifest(rows, tmp_path / "a.jsonl"), modalities={"text": TEXT}))
    assert ids == {"train": ["1", "6", "7"], "val": ["2", "3", "4"], "test": ["5"]}
    rows = [
        {"split": "train" if i < 10 else "test", "text": "x", "label": i % 2} for i in range(12)
    ]
    path = write_manifest(rows, tmp_path / "b.jsonl")
    ids = split_ids(build(path, modalities={"text": TEXT}, val_fraction=0.3))
    assert len(ids["val"]) == 3
    assert len(ids["train"]) == 7
    assert ids["test"] == ["11", "12"]
    assert all(int(i) <= 10 for i in ids["val"])  # carved out of train only
    assert ids == split_ids(build(path, modalities={"text": TEXT}, val_fraction=0.3))
