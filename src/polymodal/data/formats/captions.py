"""The ``captions`` dataset: COCO caption annotations and Karpathy split JSON, one row per caption.

Two layouts are read (``format: auto`` tells them apart by their keys):

- **Karpathy** (``dataset_coco.json``, ``dataset_flickr8k.json``, ``dataset_flickr30k.json``):
  ``{"images": [{"filename", "filepath" (COCO only), "split", "sentences": [{"raw", "tokens",
  "sentid"}], "imgid", "cocoid"}], "dataset"}``. Karpathy's own splits are used (``restval``,
  COCO's extra training images, joins ``train`` unless ``restval: skip``); an image's path is
  ``filepath/filename`` under the data root.
- **COCO** (``captions_train2014.json``, ...): ``{"images": [{"id", "file_name"}],
  "annotations": [{"id", "image_id", "caption"}]}``. The file has no split: ``split`` puts every
  row in one, or (None) images are split at random, seeded, by ``val_fraction`` /
  ``test_fraction``; an image's path is ``images/file_name`` under the data root.

Each caption becomes a manifest row ``{id, split, image, caption, image_id}`` (``id``: the
sentence or annotation id), built by the manifest's rules (:mod:`polymodal.data.manifest`):
``modalities`` maps modality names to the columns ``image`` and ``caption`` (default: an
``image`` modality of 224 x 224 and a word-tokenised ``text`` modality), rows are grouped by
image (one split per image; :meth:`~polymodal.data.manifest.ManifestDataset.item_keys` gives
one gallery item per image), and the dataset is unlabelled (task ``none``), so contrastive
training, retrieval and matching run on it unchanged. Example::

    data:
      name: captions
      path: flickr8k/dataset_flickr8k.json
      root: Flicker8k_Dataset
      modalities:
        image: {kind: image, column: image, size: [64, 64]}
        text: {kind: text, column: caption, tokenizer: word, max_length: 32}

Errors: an entry off the layout names its index and field; images the JSON names but the root
lacks are one error listing the first few (every image is checked before anything is decoded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from polymodal.data.bundle import DataBundle
from polymodal.data.manifest import ManifestModality, ManifestRequest, build_manifest, data_root
from polymodal.data.manifest.paths import DataRoot
from polymodal.errors import DataError
from polymodal.registry import DATASETS

COLUMNS = ["id", "split", "image", "caption", "image_id"]
MAX_LISTED = 5
DEFAULT_MODALITIES: dict[str, dict[str, Any]] = {
    "image": {"kind": "image", "column": "image", "size": [224, 224]},
    "text": {"kind": "text", "column": "caption", "tokenizer": "word", "max_length": 64},
}
_KARPATHY_SPLITS = {"train": "train", "val": "val", "test": "test", "restval": "train"}


@dataclass(frozen=True)
class _Options:
    format: Literal["auto", "karpathy", "coco"]
    split: Literal["train", "val", "test"] | None
    images: str
    restval: Literal["train", "skip"]


def _entry_error(where: str, what: str, layout: str) -> DataError:
    return DataError(
        what,
        where=where,
        fix=f"use the {layout} file unchanged (layout: polymodal.data.formats.captions)",
    )


def _text(value: Any, where: str, field: str, layout: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _entry_error(where, f"{field!r} is {value!r}, not a non-empty string", layout)
    return value


def _karpathy_rows(data: dict[str, Any], where: str, o: _Options) -> list[dict[str, Any]]:
    rows = []
    for i, image in enumerate(data["images"]):
        at = f"{where}, images[{i}]"
        if not isinstance(image, dict) or not isinstance(image.get("sentences"), list):
            raise _entry_error(at, "expected an object with a 'sentences' list", "Karpathy")
        name = _text(image.get("filename"), at, "filename", "Karpathy")
        split = image.get("split")
        if split not in _KARPATHY_SPLITS:
            raise _entry_error(at, f"'split' is {split!r}, not train/val/test/restval", "Karpathy")
        if split == "restval" and o.restval == "skip":
            continue
        folder = image.get("filepath") or ""
        path = f"{folder}/{name}" if folder else name
        image_id = image.get("cocoid", image.get("imgid", i))
        for k, sentence in enumerate(image["sentences"]):
            sat = f"{at}.sentences[{k}]"
            if not isinstance(sentence, dict):
                raise _entry_error(sat, "expected an object with 'raw'", "Karpathy")
            raw = sentence.get("raw")
            if raw is None and isinstance(sentence.get("tokens"), list):
                raw = " ".join(map(str, sentence["tokens"]))
            caption = _text(raw, sat, "raw", "Karpathy")
            row_id = sentence.get("sentid", f"{image_id}-{k}")
            rows.append(_row(row_id, _KARPATHY_SPLITS[split], path, caption, image_id))
    return rows


def _row(row_id: Any, split: str | None, image: str, caption: str, image_id: Any) -> dict:
    return {
        "id": str(row_id),
        "split": split,
        "image": image,
        "caption": caption.strip(),
        "image_id": str(image_id),
    }


def _coco_files(data: dict[str, Any], where: str) -> dict[Any, str]:
    files: dict[Any, str] = {}
    for i, image in enumerate(data["images"]):
        at = f"{where}, images[{i}]"
        if not isinstance(image, dict) or "id" not in image:
            raise _entry_error(at, "expected an object with 'id' and 'file_name'", "COCO")
        files[image["id"]] = _text(image.get("file_name"), at, "file_name", "COCO")
    return files


def _coco_rows(data: dict[str, Any], where: str, o: _Options) -> list[dict[str, Any]]:
    files = _coco_files(data, where)
    rows, unknown = [], []
    for i, note in enumerate(data["annotations"]):
        at = f"{where}, annotations[{i}]"
        if not isinstance(note, dict) or "image_id" not in note:
            raise _entry_error(at, "expected an object with 'image_id' and 'caption'", "COCO")
        caption = _text(note.get("caption"), at, "caption", "COCO")
        if note["image_id"] not in files:
            unknown.append(f"annotations[{i}] (image_id {note['image_id']!r})")
            continue
        name = files[note["image_id"]]
        path = f"{o.images.strip('/')}/{name}" if o.images else name
        rows.append(_row(note.get("id", i), o.split, path, caption, note["image_id"]))
    if unknown:
        raise DataError(
            f"{len(unknown)} caption(s) name an image id absent from 'images': "
            + ", ".join(unknown[:MAX_LISTED])
            + (" ..." if len(unknown) > MAX_LISTED else ""),
            where=where,
            fix="use the annotation file unchanged (its 'images' list every captioned image)",
        )
    return rows


def _layout(data: Any, where: str, chosen: str) -> str:
    """``karpathy`` or ``coco``: the layout ``data`` has (and ``chosen`` asks for, unless auto)."""
    keys = set(data) if isinstance(data, dict) else set()
    is_coco = isinstance(data, dict) and isinstance(data.get("annotations"), list)
    found = "coco" if is_coco else "karpathy"
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        found = ""
    if not found or chosen not in ("auto", found):
        raise DataError(
            f"not a {'caption' if chosen == 'auto' else chosen} JSON (top-level keys: "
            f"{sorted(keys) if keys else type(data).__name__})",
            where=where,
            fix="give a Karpathy split file ({images: [{filename, split, sentences}]}) or a "
            "COCO caption annotation file ({images, annotations}), and format: auto",
        )
    return found


def _check_images(rows: list[dict[str, Any]], root: DataRoot, where: str) -> None:
    """One DataError listing the first images of ``rows`` missing under ``root``."""
    missing: dict[str, str] = {}
    for row in rows:
        image = row["image"]
        if image not in missing and not (root.path / image).is_file():
            missing[image] = row["image_id"]
    if missing:
        listed = [f"{p} (image id {i})" for p, i in list(missing.items())[:MAX_LISTED]]
        more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        raise DataError(
            f"{len(missing)} image(s) named by the JSON are missing under {root.name} "
            f"{str(root.path)!r}: {', '.join(listed)}{more}",
            where=where,
            fix="set root to the folder holding the images (Karpathy: the folder of "
            "'filepath/filename'; COCO: of 'images/file_name'), or download the missing ones",
        )


def caption_rows(path: Path, root: DataRoot, o: _Options) -> list[dict[str, Any]]:
    """The JSON at ``path`` as manifest rows, every image checked to exist under ``root``."""
    where = str(path)
    if not path.is_file():
        raise DataError("caption JSON not found", where=where, fix="check data.path")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON ({exc})", where=where, fix="download it again") from None
    layout = _layout(data, where, o.format)
    rows = _karpathy_rows(data, where, o) if layout == "karpathy" else _coco_rows(data, where, o)
    if not rows:
        raise DataError("the JSON has no captions", where=where, fix="check the file")
    _check_images(rows, root, where)
    return rows


@DATASETS.register("captions")
def captions_dataset(
    *,
    seed: int,
    state: dict[str, Any] | None = None,
    path: str | Path,
    modalities: dict[str, ManifestModality] | None = None,
    format: Literal["auto", "karpathy", "coco"] = "auto",
    root: str | None = None,
    images: str = "",
    split: Literal["train", "val", "test"] | None = None,
    restval: Literal["train", "skip"] = "train",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int | None = None,
    bad_rows: Literal["error", "skip"] = "error",
    cache_in_memory: bool = True,
    name: str | None = None,
) -> DataBundle:
    """Image-caption pairs from a Karpathy split JSON or a COCO caption annotation JSON.

    Args:
        seed: seed of a random split (COCO without ``split``). Injected.
        state: an earlier build's state (vocabularies), as for ``manifest``.
        path: the JSON file.
        modalities: modality -> options over the columns ``image`` / ``caption`` (default: an
            ``image`` of 224 x 224 and a word-tokenised ``text``, 64 tokens).
        format: ``karpathy``, ``coco`` or ``auto`` (by the file's keys).
        root: folder the image paths resolve against (relative to the JSON's folder);
            default: the JSON's folder.
        images: COCO: the subfolder of ``root`` holding ``file_name`` (e.g. ``train2014``).
        split: COCO: the split of every row; None: random by image (the fractions below).
        restval: Karpathy COCO's ``restval`` images: ``train`` (usual) or ``skip``.
        val_fraction, test_fraction, split_seed: a random split's shares (of images) and seed.
        bad_rows, cache_in_memory, name: as for ``manifest``.

    Raises:
        DataError: the JSON is missing, malformed or off the layout (naming the entry), or
        names images missing under the root (listing the first few); then as ``manifest``.
    """
    p = Path(path)
    options = _Options(format, split, images, restval)
    base = data_root(p, root)
    rows = caption_rows(p, base, options)
    if all(r["split"] is None for r in rows):
        rows = [{k: v for k, v in r.items() if k != "split"} for r in rows]
    columns = [c for c in COLUMNS if c in rows[0]]
    request = ManifestRequest(
        seed=seed, state=state, path=p, modalities=modalities or DEFAULT_MODALITIES,  # type: ignore[arg-type]
        label=None, task=None, classes=None, root=root, id_column="id", split_column="split",
        group_column="image", val_fraction=val_fraction, test_fraction=test_fraction,
        split_seed=split_seed, bad_rows=bad_rows, cache_in_memory=cache_in_memory,
        name=name or p.stem,
    )  # fmt: skip
    return build_manifest(request, lambda _: (rows, columns))
