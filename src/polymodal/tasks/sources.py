"""Where a task's samples come from: registered data sources yielding raw records.

A source is a function ``(split, base_dir, **params) -> list[Record]`` registered in
:data:`TASK_SOURCES` with the fields its records carry and their kinds (``text``, ``texts``: a
list of texts such as five reference captions, ``image``: an
:class:`~polymodal.adapters.base.ImageInput`). The task file's placeholders and targets are
checked against those fields before anything is loaded.

Built-in sources (the data is read from ``root``, default ``$POLYMODAL_DATA`` or
``../shared/data``; splits are drawn with a fixed seed, by photo or by source sentence so that no
photo or sentence is in two splits):

- ``manifest``: a JSONL or CSV file; its fields are declared in the task (``data.fields``); image
  paths are relative to the manifest; ``id`` column optional; no split (the file is the split);
- ``easy_vqa``: the ``easy-vqa`` package (train / test as published): image, question, answer;
- ``flickr8k_captions``: Flickr8k-1k photos with their five captions (``references``);
- ``flickr8k_yes_no``: each photo twice, with one of its own captions (``yes``) and with a caption
  of another photo drawn by a fixed derangement (``no``): image, caption, label;
- ``tatoeba``: English-Chinese pairs grouped by source sentence (every translation of a source is
  a reference): source, references.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from polymodal.adapters.base import ImageInput
from polymodal.errors import DataError
from polymodal.registry import Registry

FieldKind = Literal["text", "texts", "image"]
Split = Literal["train", "val", "test"]
SPLIT_SHARES = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}
"""Share of the groups (photos, source sentences) in each split of the built-in sources."""

TASK_SOURCES: Registry[Any] = Registry(
    "task data source", injected=("split", "base_dir"), checked=True
)


@dataclass(frozen=True)
class Record:
    """One sample of a task: ``id`` and its fields (text, list of texts, or image)."""

    id: str
    fields: dict[str, Any]


def data_root(root: str | None) -> Path:
    """``root``, else ``$POLYMODAL_DATA``, else ``../shared/data``."""
    return Path(root or os.environ.get("POLYMODAL_DATA") or "../shared/data")


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(
            f"{what} not found",
            where=str(path),
            fix="pass data.params.root, or set POLYMODAL_DATA to the folder holding it",
        )
    return path


def split_groups(groups: list[str], split: str, seed: int = 0) -> set[str]:
    """The groups of ``split`` in a seeded permutation of the sorted ``groups``."""
    if split not in SPLIT_SHARES:
        raise DataError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLIT_SHARES)}")
    ordered = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(ordered))
    low, high = SPLIT_SHARES[split]
    chosen = order[int(low * len(ordered)) : int(high * len(ordered))]
    return {ordered[i] for i in chosen}


@TASK_SOURCES.register("manifest", fields=None)
def manifest(
    split: str, base_dir: Path, path: str, fields: dict[str, FieldKind], id_column: str = "id"
) -> list[Record]:
    """Rows of a JSONL or CSV file (paths relative to the task file); fields declared."""
    file = _need(base_dir / path, "manifest")
    if file.suffix == ".jsonl":
        lines = file.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    else:
        with file.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    records = []
    for i, row in enumerate(rows):
        values: dict[str, Any] = {}
        for name, kind in fields.items():
            if name not in row:
                raise DataError(f"row {i} has no field {name!r}", where=str(file))
            value = row[name]
            if kind == "image":
                value = ImageInput(path=str(file.parent / value), source=f"row {i} ({value})")
            elif kind == "texts":
                value = [value] if isinstance(value, str) else [str(v) for v in value]
            values[name] = value
        records.append(Record(str(row.get(id_column, i)), values))
    return records


@TASK_SOURCES.register("easy_vqa", fields={"image": "image", "question": "text", "answer": "text"})
def easy_vqa(split: str, base_dir: Path) -> list[Record]:
    """easy-vqa (the ``easy-vqa`` package): coloured shapes, questions, 13 one-word answers."""
    try:
        import easy_vqa as package
    except ImportError:
        raise DataError(
            "the easy-vqa package is not installed", fix="pip install 'polymodal[vqa]'"
        ) from None
    if split not in ("train", "test"):
        raise DataError(f"easy-vqa has train and test splits, not {split!r}")
    questions, answers, image_ids = (
        package.get_train_questions() if split == "train" else package.get_test_questions()
    )
    paths = package.get_train_image_paths() if split == "train" else package.get_test_image_paths()
    return [
        Record(
            f"{split}-{i}",
            {
                "image": ImageInput(path=paths[img], source=f"{split}-{i}"),
                "question": q,
                "answer": a,
            },
        )
        for i, (q, a, img) in enumerate(zip(questions, answers, image_ids, strict=True))
    ]


def _flickr_captions(root: Path) -> dict[str, list[str]]:
    folder = _need(root / "flickr8k-1k", "Flickr8k-1k")
    captions: dict[str, list[str]] = defaultdict(list)
    with (folder / "captions.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            captions[row["image"]].append(row["caption"].strip())
    return dict(captions)


def _photo(root: Path, name: str) -> ImageInput:
    return ImageInput(path=str(root / "flickr8k-1k" / "images" / name), source=name)


@TASK_SOURCES.register(
    "flickr8k_captions", fields={"image": "image", "references": "texts", "caption": "text"}
)
def flickr8k_captions(
    split: str, base_dir: Path, root: str | None = None, seed: int = 0
) -> list[Record]:
    """Flickr8k-1k photos (split by photo) with their five captions; ``caption`` is the first."""
    base = data_root(root)
    captions = _flickr_captions(base)
    chosen = split_groups(list(captions), split, seed)
    return [
        Record(name, {"image": _photo(base, name), "references": refs, "caption": refs[0]})
        for name, refs in sorted(captions.items())
        if name in chosen
    ]


@TASK_SOURCES.register(
    "flickr8k_yes_no", fields={"image": "image", "caption": "text", "label": "text"}
)
def flickr8k_yes_no(
    split: str, base_dir: Path, root: str | None = None, seed: int = 0
) -> list[Record]:
    """Each photo of the split with its own first caption (yes) and another photo's (no)."""
    base = data_root(root)
    captions = _flickr_captions(base)
    names = sorted(n for n in captions if n in split_groups(list(captions), split, seed))
    shift = np.random.default_rng(seed + 1).integers(1, max(len(names), 2))
    records = []
    for i, name in enumerate(names):
        other = names[(i + int(shift)) % len(names)]  # a fixed derangement: never the same photo
        image = _photo(base, name)
        records.append(
            Record(f"{name}#yes", {"image": image, "caption": captions[name][0], "label": "yes"})
        )
        records.append(
            Record(f"{name}#no", {"image": image, "caption": captions[other][0], "label": "no"})
        )
    return records


@TASK_SOURCES.register("tatoeba", fields={"source": "text", "references": "texts"})
def tatoeba(
    split: str,
    base_dir: Path,
    root: str | None = None,
    direction: Literal["zh-en", "en-zh"] = "zh-en",
    seed: int = 0,
) -> list[Record]:
    """Tatoeba English-Chinese pairs, grouped by source sentence, split by source sentence."""
    file = _need(data_root(root) / "tatoeba-cmn-eng" / "cmn-eng.tsv", "Tatoeba cmn-eng")
    grouped: dict[str, list[str]] = defaultdict(list)
    for line in file.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        english, chinese = parts[0].strip(), parts[1].strip()
        source, target = (chinese, english) if direction == "zh-en" else (english, chinese)
        if target not in grouped[source]:
            grouped[source].append(target)
    chosen = split_groups(list(grouped), split, seed)
    return [
        Record(f"{direction}-{i}", {"source": s, "references": grouped[s]})
        for i, s in enumerate(sorted(grouped))
        if s in chosen
    ]


def source_fields(source: str, declared: dict[str, str] | None) -> dict[str, str]:
    """The fields of ``source``'s records: registered, or declared in the task (manifest)."""
    registered = TASK_SOURCES.entry(source).meta.get("fields")
    return dict(registered) if registered is not None else dict(declared or {})
