"""Tests of polymodal.data.manifest.paths: paths resolve inside the data root, never outside."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from manifest_helpers import (
    IMAGE,
    build,
    make_png,
    write_manifest,
)

from polymodal.errors import DataError


@pytest.mark.parametrize("way", ["dotdot", "absolute", "symlink"])
def test_paths_leaving_the_manifest_folder_are_refused(tmp_path: Path, way: str) -> None:
    root = tmp_path / "data"
    outside = tmp_path / "secret.png"
    make_png(outside, (9, 9, 9))
    make_png(root / "ok.png", (1, 2, 3))
    if way == "symlink":
        (root / "link.png").symlink_to(outside)
    cell = {"dotdot": "../secret.png", "absolute": str(outside), "symlink": "link.png"}[way]
    rows = [
        {"id": "x", "split": "train", "image": "ok.png", "label": 0},
        {"id": "y", "split": "train", "image": cell, "label": 1},
    ]
    path = write_manifest(rows, root / "m.jsonl")
    for policy in ("error", "skip"):  # refused whatever the bad-row policy
        with pytest.raises(DataError) as info:
            build(path, modalities={"image": IMAGE}, bad_rows=policy)
        message = str(info.value)
        assert str(path) in message  # the manifest
        assert "row 2" in message
        assert "'y'" in message
        assert "field 'image'" in message
        assert repr(cell) in message  # the path as written
        assert "outside the manifest's folder" in message
        assert "fix:" in message


def test_absolute_path_inside_the_folder_is_accepted(tmp_path: Path) -> None:
    make_png(tmp_path / "sub" / "in.png", (0, 0, 255))
    rows = [
        {"image": str((tmp_path / "sub" / "in.png").resolve()), "label": 0},
        {"image": "sub/./in.png", "label": 1},
    ]
    bundle = build(
        write_manifest(rows, tmp_path / "m.jsonl"), modalities={"image": IMAGE}, val_fraction=0.0,
        test_fraction=0.0,
    )  # fmt: skip
    images = [s.inputs["image"] for s in bundle.splits["train"]]  # type: ignore[attr-defined]
    assert len(images) == 2
    assert torch.equal(images[0], images[1])
    assert [s.id for s in bundle.splits["train"]] == ["1", "2"]  # type: ignore[attr-defined]
