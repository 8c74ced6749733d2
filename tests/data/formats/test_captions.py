"""The ``captions`` dataset on Karpathy and COCO JSON of the real layouts, written here over
real Flickr8k photos (../shared/data/flickr8k-1k): rows, Karpathy's splits, grouping by image,
item keys, missing images and entries off the layout."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from polymodal.data.formats.captions import captions_dataset
from polymodal.data.manifest import ManifestDataset
from polymodal.errors import DataError
from polymodal.registry import DATASETS

FLICKR = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "flickr8k-1k"
MODALITIES = {
    "image": {"kind": "image", "column": "image", "size": [8, 8]},
    "text": {"kind": "text", "column": "caption", "tokenizer": "word", "max_length": 12},
}
SPLITS = ["train", "train", "train", "val", "test", "restval"]

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(
        not (FLICKR / "captions.csv").is_file(),
        reason=f"real Flickr8k-1k not found at {FLICKR} (../shared/data is absent)",
    ),
]


def _flickr_captions(n: int) -> dict[str, list[str]]:
    """The first ``n`` images of the Flickr8k subset and their five captions."""
    captions: dict[str, list[str]] = defaultdict(list)
    with (FLICKR / "captions.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["image"] in captions or len(captions) < n:
                captions[row["image"]].append(row["caption"])
    return dict(captions)


def _karpathy(folder: Path, *, filepath: str | None = None) -> tuple[Path, dict[str, Any]]:
    """``dataset_flickr8k.json`` (or COCO-like with ``filepath``) over six real photos."""
    captions = _flickr_captions(len(SPLITS))
    images, sentid = [], 0
    for imgid, ((name, texts), split) in enumerate(zip(captions.items(), SPLITS, strict=True)):
        sentences = []
        for text in texts:
            tokens = text.lower().rstrip(" .").split()
            sentences.append({"tokens": tokens, "raw": text, "imgid": imgid, "sentid": sentid})
            sentid += 1
        entry = {"sentids": [s["sentid"] for s in sentences], "imgid": imgid,
                 "sentences": sentences, "split": split, "filename": name}  # fmt: skip
        if filepath is not None:
            entry |= {"filepath": filepath, "cocoid": 1000 + imgid}
        images.append(entry)
    data = {"images": images, "dataset": "flickr8k" if filepath is None else "coco"}
    path = folder / ("dataset_flickr8k.json" if filepath is None else "dataset_coco.json")
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, data


def _split(bundle: Any, name: str) -> ManifestDataset:
    dataset = bundle.splits[name]
    assert isinstance(dataset, ManifestDataset)
    return dataset


def test_karpathy_json_gives_one_row_per_caption_in_karpathys_splits(tmp_path) -> None:
    path, data = _karpathy(tmp_path)
    assert "captions" in DATASETS
    bundle = captions_dataset(seed=0, path=path, root=str(FLICKR / "images"), modalities=MODALITIES)
    assert bundle.info.task.type == "none"
    sizes = {s: len(_split(bundle, s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 20, "val": 5, "test": 5}  # restval joins train (3 + 1 images)
    train = _split(bundle, "train")
    expected = [
        (str(s["sentid"]), img["filename"])
        for img in data["images"] if img["split"] in ("train", "restval")
        for s in img["sentences"]
    ]  # fmt: skip
    assert list(zip(train.ids, train.item_keys("image"), strict=True)) == expected
    assert train.item_keys("text")[0] == data["images"][0]["sentences"][0]["raw"].strip()
    first = train[0].inputs
    assert first["image"].shape == (3, 8, 8)
    assert first["text"].dtype.is_floating_point is False
    skipped = captions_dataset(
        seed=0, path=path, root=str(FLICKR / "images"), modalities=MODALITIES, restval="skip"
    )
    assert len(_split(skipped, "train")) == 15


def test_karpathy_coco_paths_join_filepath_and_filename(tmp_path) -> None:
    photos = tmp_path / "coco" / "val2014"
    photos.mkdir(parents=True)
    for name in _flickr_captions(len(SPLITS)):
        shutil.copyfile(FLICKR / "images" / name, photos / name)  # symlinks out are refused
    path, _ = _karpathy(tmp_path / "coco", filepath="val2014")
    bundle = captions_dataset(seed=0, path=path, modalities=MODALITIES)
    test = _split(bundle, "test")
    assert set(test.item_keys("image")) == {f"val2014/{list(_flickr_captions(6))[4]}"}


def _coco(folder: Path, *, extra_annotation: dict | None = None) -> Path:
    captions = _flickr_captions(4)
    images = [{"id": 7 + i, "file_name": n, "height": 1, "width": 1}
              for i, n in enumerate(captions)]  # fmt: skip
    notes = [
        {"image_id": 7 + i, "id": 100 * i + k, "caption": c}
        for i, texts in enumerate(captions.values())
        for k, c in enumerate(texts)
    ]
    if extra_annotation:
        notes.append(extra_annotation)
    data = {"info": {}, "licenses": [], "images": images, "annotations": notes}
    path = folder / "captions_val2014.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_coco_annotations_split_by_image_or_all_in_one_split(tmp_path) -> None:
    path = _coco(tmp_path)
    (tmp_path / "images").mkdir()
    for name in _flickr_captions(4):
        shutil.copyfile(FLICKR / "images" / name, tmp_path / "images" / name)
    common = {"path": path, "modalities": MODALITIES, "images": "images"}
    bundle = captions_dataset(seed=0, val_fraction=0.25, test_fraction=0.25, **common)
    per_split = {s: _split(bundle, s).item_keys("image") for s in ("train", "val", "test")}
    assert {s: len(set(k)) for s, k in per_split.items()} == {"train": 2, "val": 1, "test": 1}
    assert sum(len(k) for k in per_split.values()) == 20
    for s, keys in per_split.items():  # every caption of an image in its image's split
        assert all(k.startswith("images/") for k in keys)
        others = [k for t, ks in per_split.items() if t != s for k in ks]
        assert not set(keys) & set(others)
    again = captions_dataset(seed=0, val_fraction=0.25, test_fraction=0.25, **common)
    assert _split(again, "test").ids == _split(bundle, "test").ids
    one = captions_dataset(seed=0, split="test", state=bundle.state, **common)  # evaluation
    assert len(_split(one, "test")) == 20
    assert len(_split(one, "train")) == 0
    assert _split(one, "test").ids[:2] == ["0", "1"]


def test_images_missing_under_the_root_are_one_error_listing_the_first(tmp_path) -> None:
    path, data = _karpathy(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    first = data["images"][0]["filename"]
    shutil.copyfile(FLICKR / "images" / first, photos / first)
    with pytest.raises(DataError, match="5 image") as err:
        captions_dataset(seed=0, path=path, root="photos", modalities=MODALITIES)
    message = str(err.value)
    assert f"{data['images'][1]['filename']} (image id 1)" in message
    assert str(path) in message
    assert "set root" in message


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["images"][2].update(split="dev"), r"images\[2\]: 'split' is 'dev'"),
        (lambda d: d["images"][1].pop("filename"), r"images\[1\]: 'filename' is None"),
        (lambda d: d["images"][0]["sentences"][3].update(raw=" "), r"sentences\[3\]: 'raw'"),
        (lambda d: d.pop("images"), r"not a caption JSON \(top-level keys: \['dataset'\]\)"),
    ],
)
def test_entries_off_the_karpathy_layout_are_named(tmp_path, edit, match) -> None:
    path, data = _karpathy(tmp_path)
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError, match=match):
        captions_dataset(seed=0, path=path, root=str(FLICKR / "images"), modalities=MODALITIES)


def test_a_coco_caption_of_an_unknown_image_id_is_named(tmp_path) -> None:
    path = _coco(tmp_path, extra_annotation={"image_id": 99, "id": 5, "caption": "lost"})
    with pytest.raises(DataError, match=r"annotations\[20\] \(image_id 99\)"):
        captions_dataset(seed=0, path=path, root=str(FLICKR / "images"), modalities=MODALITIES)
    with pytest.raises(DataError, match="not a karpathy JSON"):
        captions_dataset(seed=0, path=path, format="karpathy", modalities=MODALITIES)


def test_towers_train_and_retrieve_on_a_karpathy_json_through_train(tmp_path) -> None:
    from polymodal.config import parse_config
    from polymodal.evaluate.run import EvaluationOptions, evaluate_run
    from polymodal.train.run import train

    path, _ = _karpathy(tmp_path)
    tower = {"fusion": "concat", "head": {"name": "retrieval", "embed_dim": 8}}
    encoders = {
        "image": {"name": "cnn", "out_dim": 8, "channels": 4, "num_blocks": 1},
        "text": {"name": "text_gru", "out_dim": 8, "embed_dim": 8, "hidden_dim": 8},
    }
    config = parse_config(
        {
            "seed": 0,
            "data": {
                "name": "captions",
                "path": str(path),
                "root": str(FLICKR / "images"),
                "modalities": MODALITIES,
            },
            "pretrain": {
                "objective": "contrastive",
                "towers": {m: {"encoders": {m: e}, **tower} for m, e in encoders.items()},
            },
            "train": {"max_epochs": 1, "batch_size": 8, "progress": False},
        }
    )
    run = tmp_path / "run"
    train(config, run)
    metrics = evaluate_run(run, options=EvaluationOptions(resamples=0)).metrics
    # the test split: one photo, five captions: five caption queries, one photo in the gallery
    assert metrics["text->image/gallery"] == 1
    assert metrics["text->image/R@1"] == 1.0
    assert metrics["image->text/gallery"] == 5
