"""The ``hf_dataset`` dataset on folders written by ``datasets``' ``save_to_disk`` and on the
Hub's Parquet layout: splits, ClassLabel names, vectors, file paths, and the errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from polymodal.data.formats.hf_dataset import hf_dataset
from polymodal.errors import DataError
from polymodal.registry import DATASETS

datasets = pytest.importorskip("datasets")

TEXT = {"kind": "text", "column": "text", "tokenizer": "word", "max_length": 8}
FEATURES = {
    "text": datasets.Value("string"),
    "photo": datasets.Value("string"),
    "emb": datasets.Sequence(datasets.Value("float32")),
    "label": datasets.ClassLabel(names=["pos", "neg"]),  # not sorted: the order is kept
}


def _columns(n: int, offset: int = 0) -> dict[str, list]:
    return {
        "text": [f"words {i} here" for i in range(offset, offset + n)],
        "photo": [f"img/{i % 2}.png" for i in range(offset, offset + n)],
        "emb": [[float(i), float(-i)] for i in range(offset, offset + n)],
        "label": [i % 2 for i in range(offset, offset + n)],
    }


def _saved_dict(folder: Path) -> Path:
    (folder / "img").mkdir(parents=True)
    for i, rgb in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.new("RGB", (3, 2), rgb).save(folder / "img" / f"{i}.png")
    features = datasets.Features(FEATURES)
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(_columns(6), features=features),
            "validation": datasets.Dataset.from_dict(_columns(2, 6), features=features),
            "test": datasets.Dataset.from_dict(_columns(3, 8), features=features),
        }
    )
    dd.save_to_disk(str(folder))
    return folder


MODALITIES = {
    "text": TEXT,
    "photo": {"kind": "image", "column": "photo", "size": [2, 2]},
    "vec": {"kind": "tabular", "columns": ["emb"]},
}


def test_a_saved_dataset_dict_maps_columns_splits_and_class_names(tmp_path) -> None:
    folder = _saved_dict(tmp_path / "ds")
    assert "hf_dataset" in DATASETS
    bundle = hf_dataset(seed=0, path=folder, modalities=MODALITIES, label="label", id_column=None)
    assert [len(bundle.splits[s]) for s in ("train", "val", "test")] == [6, 2, 3]
    assert bundle.info.task.class_names == ("pos", "neg")
    sample = bundle.splits["test"][1]  # row 9: label 1 = neg, emb [9, -9], img/1.png (blue)
    assert int(sample.target) == 1
    assert sample.inputs["vec"].tolist() == [9.0, -9.0]
    assert bundle.info.modalities["vec"].shape == (2,)
    blue = sample.inputs["photo"]
    assert blue.shape == (3, 2, 2)
    assert bool(blue[2].mean() > blue[0].mean())
    assert bundle.splits["train"].item_keys("photo")[:3] == ["img/0.png", "img/1.png", "img/0.png"]
    assert bundle.state["class_names"] == ["pos", "neg"]


def test_a_single_dataset_is_split_at_random_and_parquet_hub_layout_reads_alike(tmp_path):
    features = datasets.Features({"text": FEATURES["text"], "label": FEATURES["label"]})
    columns = {"text": _columns(10)["text"], "label": _columns(10)["label"]}
    single = tmp_path / "single"
    datasets.Dataset.from_dict(columns, features=features).save_to_disk(str(single))
    bundle = hf_dataset(
        seed=0, path=single, modalities={"text": TEXT}, label="label",
        val_fraction=0.2, test_fraction=0.2,
    )  # fmt: skip
    assert [len(bundle.splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    ds = datasets.Dataset.from_dict(columns, features=features)
    ds.select(range(7)).to_parquet(str(hub / "data" / "train-00000-of-00001.parquet"))
    ds.select(range(7, 10)).to_parquet(str(hub / "data" / "test-00000-of-00001.parquet"))
    parquet = hf_dataset(seed=0, path=hub, modalities={"text": TEXT}, label="label")
    assert len(parquet.splits["test"]) == 3
    assert parquet.info.task.class_names == ("pos", "neg")  # from the schema's metadata
    assert [int(parquet.splits["test"][i].target) for i in range(3)] == [1, 0, 1]  # rows 7-9
    assert parquet.splits["test"][0].inputs["text"].shape == (3,)  # "words 7 here"


def test_the_reader_needs_pyarrow_alone(tmp_path) -> None:
    folder = _saved_dict(tmp_path / "ds")
    code = (
        "import sys; from polymodal.data.formats.hf_dataset import hf_dataset; "
        f"b = hf_dataset(seed=0, path={str(folder)!r}, label='label', id_column=None, "
        "modalities={'text': {'kind': 'text', 'column': 'text', 'tokenizer': 'word'}}); "
        "assert 'datasets' not in sys.modules; print(len(b.splits['train']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"


def test_folders_and_splits_it_cannot_read_say_what_to_do(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no dataset found[\s\S]*polymodal\[hf\]"):
        hf_dataset(seed=0, path=empty, modalities={"text": TEXT}, label=None)
    features = datasets.Features({"text": FEATURES["text"]})
    odd = tmp_path / "odd"
    one = datasets.Dataset.from_dict({"text": ["a", "b"]}, features=features)
    datasets.DatasetDict({"train": one, "unsupervised": one}).save_to_disk(str(odd))
    with pytest.raises(DataError, match=r"split 'unsupervised'[\s\S]*splits: \{unsupervised"):
        hf_dataset(seed=0, path=odd, modalities={"text": TEXT}, label=None)
    kept = hf_dataset(
        seed=0, path=odd, modalities={"text": TEXT}, label=None, splits={"unsupervised": None},
        val_fraction=0.0,
    )  # fmt: skip
    assert len(kept.splits["train"]) == 2


def test_embedded_image_bytes_are_refused_naming_column_and_row(tmp_path) -> None:
    png = tmp_path / "a.png"
    Image.new("RGB", (2, 2)).save(png)
    features = datasets.Features({"picture": datasets.Image()})
    folder = tmp_path / "images"
    datasets.Dataset.from_dict({"picture": [str(png)]}, features=features).save_to_disk(str(folder))
    with pytest.raises(DataError, match=r"row 1: column 'picture' holds embedded file bytes"):
        hf_dataset(seed=0, path=folder, modalities={"picture": {"kind": "image"}}, label=None)
