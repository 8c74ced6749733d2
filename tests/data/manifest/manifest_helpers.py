"""Helpers shared by the manifest tests: small manifests of PNGs, captions and tabular values."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from polymodal.data.bundle import DataBundle
from polymodal.data.manifest import manifest_dataset

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


FLICKR = SHARED / "flickr8k-1k"


FSDD = SHARED / "fsdd" / "recordings"


IMAGE = {"kind": "image", "size": [4, 6]}


TEXT = {"kind": "text", "max_length": 8}


TAB = {"kind": "tabular", "columns": ["f1", "f2"]}


def make_png(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (8, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size[::-1], rgb).save(path)  # Pillow takes (width, height)


def write_manifest(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write ``rows`` as JSONL, CSV (None -> empty cell) or Parquet, by ``path``'s suffix."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows([{c: "" if r.get(c) is None else r[c] for c in columns} for r in rows])
    else:
        pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows]), path)
    return path


def sample_rows(folder: Path) -> list[dict[str, Any]]:
    """Six rows over three PNGs: one lacks a caption, one an image, one its tabular values."""
    colours = {"red.png": (255, 0, 0), "green.png": (0, 255, 0), "blue.png": (0, 0, 255)}
    for name, rgb in colours.items():
        make_png(folder / "img" / name, rgb)
    return [
        {"id": "a", "split": "train", "image": "img/red.png", "caption": "A red square.",
         "f1": 1.5, "f2": -2, "label": "red"},
        {"id": "b", "split": "train", "image": "img/green.png", "caption": None,
         "f1": 0.25, "f2": 4, "label": "green"},
        {"id": "c", "split": "val", "image": None, "caption": "a green square",
         "f1": 3, "f2": 0, "label": "green"},
        {"id": "d", "split": "test", "image": "img/blue.png", "caption": "blue zebra!",
         "f1": None, "f2": None, "label": "blue"},
        {"id": "e", "split": "train", "image": "img/blue.png", "caption": "a blue square",
         "f1": 7, "f2": 8, "label": "blue"},
        {"id": "f", "split": "test", "image": "img/red.png", "caption": "red",
         "f1": 1, "f2": 1, "label": "red"},
    ]  # fmt: skip


def build(path: Path, **params: Any) -> DataBundle:
    defaults: dict[str, Any] = {
        "modalities": {"image": IMAGE, "caption": TEXT, "tab": TAB},
        "label": "label",
    }
    return manifest_dataset(seed=0, state=None, path=path, **{**defaults, **params})


def all_samples(bundle: DataBundle) -> dict[str, Any]:
    return {s.id: s for split in bundle.splits.values() for s in split}  # type: ignore[attr-defined]


def split_ids(bundle: DataBundle) -> dict[str, list[str]]:
    return {k: v.ids for k, v in bundle.splits.items()}  # type: ignore[attr-defined]
