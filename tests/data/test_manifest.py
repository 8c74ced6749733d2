"""Tests of polymodal.data.manifest: formats, paths, bad rows, splits, labels, vocabularies and
state, on files the tests write and on real photos / recordings of ../shared/data."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from polymodal.data.bundle import DataBundle
from polymodal.data.collate import collate_samples
from polymodal.data.loaders.image import load_image
from polymodal.data.manifest import ManifestModality, manifest_dataset, read_manifest
from polymodal.data.transforms.image import resize_image
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
FLICKR = SHARED / "flickr8k-1k"
FSDD = SHARED / "fsdd" / "recordings"

IMAGE = {"kind": "image", "size": [4, 6]}
TEXT = {"kind": "text", "max_length": 8}
TAB = {"kind": "tabular", "columns": ["f1", "f2"]}


def _png(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (8, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size[::-1], rgb).save(path)  # Pillow takes (width, height)


def _write(rows: list[dict[str, Any]], path: Path) -> Path:
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


def _rows(folder: Path) -> list[dict[str, Any]]:
    """Six rows over three PNGs: one lacks a caption, one an image, one its tabular values."""
    colours = {"red.png": (255, 0, 0), "green.png": (0, 255, 0), "blue.png": (0, 0, 255)}
    for name, rgb in colours.items():
        _png(folder / "img" / name, rgb)
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


def _build(path: Path, **params: Any) -> DataBundle:
    defaults: dict[str, Any] = {
        "modalities": {"image": IMAGE, "caption": TEXT, "tab": TAB},
        "label": "label",
    }
    return manifest_dataset(seed=0, state=None, path=path, **{**defaults, **params})


def _all(bundle: DataBundle) -> dict[str, Any]:
    return {s.id: s for split in bundle.splits.values() for s in split}  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------- formats


def test_jsonl_csv_parquet_give_the_same_samples(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    bundles = [_build(_write(rows, tmp_path / f"m{ext}")) for ext in (".jsonl", ".csv", ".parquet")]
    reference = bundles[0]
    assert {k: v.ids for k, v in reference.splits.items()} == {  # type: ignore[attr-defined]
        "train": ["a", "b", "e"],
        "val": ["c"],
        "test": ["d", "f"],
    }
    for other in bundles[1:]:
        assert other.info.modalities == reference.info.modalities
        assert other.info.task == reference.info.task
        assert other.state == reference.state
        for split in ("train", "val", "test"):
            for x, y in zip(reference.splits[split], other.splits[split], strict=True):  # type: ignore[call-overload]
                assert x.id == y.id
                assert torch.equal(x.target, y.target)
                for name, value in x.inputs.items():
                    if value is None:
                        assert y.inputs[name] is None
                    else:
                        assert torch.equal(value, y.inputs[name])


def test_sample_values_and_missing_modalities(tmp_path: Path) -> None:
    bundle = _build(_write(_rows(tmp_path), tmp_path / "m.jsonl"))
    samples = _all(bundle)
    info = bundle.info
    assert info.task.class_names == ("blue", "green", "red")  # sorted by code point
    assert info.modalities["image"].shape == (3, 4, 6)
    assert info.modalities["tab"].shape == (2,)
    assert info.modalities["caption"].shape == (-1,)
    # a solid red PNG stays solid red after resizing
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 4, 6)
    torch.testing.assert_close(samples["a"].inputs["image"], red)
    torch.testing.assert_close(samples["a"].inputs["tab"], torch.tensor([1.5, -2.0]))
    assert samples["a"].target.dtype == torch.int64
    assert samples["a"].target.item() == 2
    assert samples["b"].inputs["caption"] is None  # null caption: missing, not a bad row
    assert samples["c"].inputs["image"] is None
    assert samples["d"].inputs["tab"] is None  # every tabular cell empty
    # vocabulary: train captions only ("A red square.", "a blue square"), ties by code point
    tokens = bundle.state["tokenizers"]["caption"]["tokens"]
    assert tokens == ["<pad>", "<unk>", "a", "square", ".", "blue", "red"]
    assert samples["c"].inputs["caption"].tolist() == [2, 1, 3]  # "green" was never trained on
    assert samples["d"].inputs["caption"].tolist() == [5, 1, 1]  # "zebra", "!" unknown
    assert bundle.skipped == []


def test_read_manifest_normalises_cells(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1, "b": ""}\n\n{"c": "x"}\n', encoding="utf-8")
    rows, columns = read_manifest(path)
    assert columns == ["a", "b", "c"]
    assert rows == [{"a": 1, "b": None, "c": None}, {"a": None, "b": None, "c": "x"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_manifest(bad)
    with pytest.raises(DataError, match="unsupported manifest format"):
        read_manifest(tmp_path / "m.xlsx")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,text\n1,café\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_manifest(latin)


# --------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize("way", ["dotdot", "absolute", "symlink"])
def test_paths_leaving_the_manifest_folder_are_refused(tmp_path: Path, way: str) -> None:
    root = tmp_path / "data"
    outside = tmp_path / "secret.png"
    _png(outside, (9, 9, 9))
    _png(root / "ok.png", (1, 2, 3))
    if way == "symlink":
        (root / "link.png").symlink_to(outside)
    cell = {"dotdot": "../secret.png", "absolute": str(outside), "symlink": "link.png"}[way]
    rows = [
        {"id": "x", "split": "train", "image": "ok.png", "label": 0},
        {"id": "y", "split": "train", "image": cell, "label": 1},
    ]
    path = _write(rows, root / "m.jsonl")
    for policy in ("error", "skip"):  # refused whatever the bad-row policy
        with pytest.raises(DataError) as info:
            _build(path, modalities={"image": IMAGE}, bad_rows=policy)
        message = str(info.value)
        assert str(path) in message  # the manifest
        assert "row 2" in message
        assert "'y'" in message
        assert "field 'image'" in message
        assert repr(cell) in message  # the path as written
        assert "outside the manifest's folder" in message
        assert "fix:" in message


def test_absolute_path_inside_the_folder_is_accepted(tmp_path: Path) -> None:
    _png(tmp_path / "sub" / "in.png", (0, 0, 255))
    rows = [
        {"image": str((tmp_path / "sub" / "in.png").resolve()), "label": 0},
        {"image": "sub/./in.png", "label": 1},
    ]
    bundle = _build(
        _write(rows, tmp_path / "m.jsonl"), modalities={"image": IMAGE}, val_fraction=0.0,
        test_fraction=0.0,
    )  # fmt: skip
    images = [s.inputs["image"] for s in bundle.splits["train"]]  # type: ignore[attr-defined]
    assert len(images) == 2
    assert torch.equal(images[0], images[1])
    assert [s.id for s in bundle.splits["train"]] == ["1", "2"]  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ bad rows


def _bad_manifest(folder: Path) -> Path:
    _png(folder / "ok.png", (10, 20, 30))
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
    return _write(rows, folder / "m.csv")


BAD_MODALITIES = {"image": IMAGE, "notes": {"kind": "text", "text_is_path": True}, "tab": TAB}


def test_bad_rows_raise_one_error_naming_each(tmp_path: Path) -> None:
    path = _bad_manifest(tmp_path)
    with pytest.raises(DataError) as info:
        _build(path, modalities=BAD_MODALITIES, classes=["x", "y"])
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
    bundle = _build(path, modalities=BAD_MODALITIES, classes=["x", "y"], bad_rows="skip")
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
    assert _all(bundle)["g1"].inputs["notes"] is not None  # text read from fine.txt


def test_missing_columns_list_the_available_ones(tmp_path: Path) -> None:
    path = _write(_rows(tmp_path), tmp_path / "m.csv")
    with pytest.raises(DataError) as info:
        _build(path, modalities={"photo": IMAGE, "caption": TEXT}, label="target")
    message = str(info.value)
    assert "'photo', 'target' not found" in message
    assert "available columns: id, split, image, caption, f1, f2, label" in message
    with pytest.raises(DataError, match="id column 'uid' not found"):
        _build(path, id_column="uid")


# ------------------------------------------------------------------------------------- splits


def _plain_rows(n: int, folder: Path) -> Path:
    rows = [{"text": f"w{i % 5} common", "label": i % 2} for i in range(n)]
    return _write(rows, folder / "plain.jsonl")


def _split_ids(bundle: DataBundle) -> dict[str, list[str]]:
    return {k: v.ids for k, v in bundle.splits.items()}  # type: ignore[attr-defined]


def test_random_split_is_seeded_and_sized(tmp_path: Path) -> None:
    path = _plain_rows(50, tmp_path)
    params: dict[str, Any] = {"modalities": {"text": TEXT}, "label": "label"}
    params.update(val_fraction=0.2, test_fraction=0.1)
    first = _split_ids(manifest_dataset(seed=3, path=path, **params))
    again = _split_ids(manifest_dataset(seed=3, path=path, **params))
    other = _split_ids(manifest_dataset(seed=4, path=path, **params))
    pinned = _split_ids(manifest_dataset(seed=4, split_seed=3, path=path, **params))
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
    ids = _split_ids(_build(_write(rows, tmp_path / "a.jsonl"), modalities={"text": TEXT}))
    assert ids == {"train": ["1", "6", "7"], "val": ["2", "3", "4"], "test": ["5"]}
    rows = [
        {"split": "train" if i < 10 else "test", "text": "x", "label": i % 2} for i in range(12)
    ]
    path = _write(rows, tmp_path / "b.jsonl")
    ids = _split_ids(_build(path, modalities={"text": TEXT}, val_fraction=0.3))
    assert len(ids["val"]) == 3
    assert len(ids["train"]) == 7
    assert ids["test"] == ["11", "12"]
    assert all(int(i) <= 10 for i in ids["val"])  # carved out of train only
    assert ids == _split_ids(_build(path, modalities={"text": TEXT}, val_fraction=0.3))


# -------------------------------------------------------------------------------------- labels


def test_multiclass_integer_labels_sort_numerically(tmp_path: Path) -> None:
    rows = [{"split": "train", "text": "x", "label": v} for v in (10, 2, 0, 2)]
    for suffix in (".jsonl", ".csv"):
        path = _write(rows, tmp_path / f"m{suffix}")
        bundle = _build(path, modalities={"text": TEXT}, val_fraction=0.0)
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
    names = _build(_write(rows, tmp_path / "n.csv"), label="tags", **common)
    flags = _build(_write(rows, tmp_path / "f.csv"), label=["is_cat", "is_dog"], **common)
    listed = [dict(r, tags=r["tags"].split(";") if r["tags"] else []) for r in rows]
    lists = _build(_write(listed, tmp_path / "l.jsonl"), label="tags", **common)
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
    bundle = _build(_write(rows, tmp_path / "r.jsonl"), modalities={"text": TEXT},
                    label=["y1", "y2"], task="regression", bad_rows="skip",
                    val_fraction=0.0)  # fmt: skip
    assert bundle.info.task.target_names == ("y1", "y2")
    (sample,) = list(bundle.splits["train"])  # type: ignore[call-overload]
    torch.testing.assert_close(sample.target, torch.tensor([0.5, -1.25]))
    assert [(s.id, s.field) for s in bundle.skipped] == [("2", "y2")]
    assert "not finite" in bundle.skipped[0].reason


# ------------------------------------------------------------------------ vocabulary and state


def test_vocabulary_from_train_only_and_state_reuse(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "split": "train", "text": "the cat", "label": "a"},
        {"id": "2", "split": "train", "text": "the dog", "label": "b"},
        {"id": "3", "split": "val", "text": "the owl", "label": "a"},
        {"id": "4", "split": "test", "text": "the zebra", "label": "b"},
    ]
    bundle = _build(_write(rows, tmp_path / "m.jsonl"), modalities={"text": TEXT})
    tokens = bundle.state["tokenizers"]["text"]["tokens"]
    assert "zebra" not in tokens
    assert "owl" not in tokens
    test = _all(bundle)["4"].inputs["text"].tolist()
    assert test == [tokens.index("the"), 1]  # zebra -> <unk>
    assert bundle.info.modalities["text"].vocab_size == len(tokens) == 5

    # evaluation on another manifest with the saved state: same ids, same classes
    state = json.loads(json.dumps(bundle.state))
    new_rows = [
        {"id": "n1", "split": "test", "text": "the cat zebra", "label": "b"},
        {"id": "n2", "split": "test", "text": "a dog", "label": "c"},
    ]
    again = manifest_dataset(seed=0, state=state, path=_write(new_rows, tmp_path / "n.jsonl"),
                             modalities={"text": TEXT}, label="label", bad_rows="skip")  # fmt: skip
    assert again.state == bundle.state
    (n1,) = list(again.splits["test"])  # type: ignore[call-overload]
    assert n1.inputs["text"].tolist() == [tokens.index("the"), tokens.index("cat"), 1]
    assert n1.target.item() == 1  # "b" keeps its index from the saved state
    assert [(s.id, s.field) for s in again.skipped] == [("n2", "label")]  # "c" is unknown
    with pytest.raises(DataError, match="not a manifest state"):
        manifest_dataset(seed=0, state=state, path=tmp_path / "n.jsonl",
                         modalities={"text": TEXT}, label="label", task="regression")  # fmt: skip


def test_hf_tokenizer_modality(tmp_path: Path) -> None:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "red", "blue"]
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "BertTokenizer", "do_lower_case": true}'
    )
    rows = [
        {"split": "train", "text": "Red blue", "label": 0},
        {"split": "train", "text": "green", "label": 1},
    ]
    text = {"kind": "text", "tokenizer": "hf", "tokenizer_path": str(folder), "max_length": 8}
    bundle = _build(_write(rows, tmp_path / "m.jsonl"), modalities={"text": text}, val_fraction=0)
    samples = list(bundle.splits["train"])  # type: ignore[call-overload]
    assert samples[0].inputs["text"].tolist() == [2, 5, 6, 3]
    assert samples[1].inputs["text"].tolist() == [2, 1, 3]
    spec = bundle.info.modalities["text"]
    assert spec.vocab_size == 7
    assert spec.pad_id == 0


# --------------------------------------------------------------------------------- other paths


def test_cache_off_decodes_on_access(tmp_path: Path) -> None:
    path = _write(_rows(tmp_path), tmp_path / "m.jsonl")
    cached = _build(path)
    lazy = _build(path, cache_in_memory=False)
    for split in ("train", "val", "test"):
        for x, y in zip(cached.splits[split], lazy.splits[split], strict=True):  # type: ignore[call-overload]
            assert x.id == y.id
            for name, value in x.inputs.items():
                assert (value is None and y.inputs[name] is None) or torch.equal(
                    value, y.inputs[name]
                )
    (tmp_path / "img" / "red.png").unlink()
    assert cached.splits["train"][0].inputs["image"] is not None
    with pytest.raises(DataError, match="row 1 \\(id 'a'\\), field 'image'"):
        lazy.splits["train"][0]


def test_registry_validates_params_and_builder_accepts_dicts(tmp_path: Path) -> None:
    params_model = DATASETS.params_model("manifest")
    ok = params_model.model_validate(
        {"path": "m.csv", "modalities": {"photo": {"kind": "image", "size": 32}}, "label": "y"}
    )
    assert ok.modalities["photo"] == ManifestModality(kind="image", size=(32, 32))
    for bad, fragment in (
        ({"kind": "image", "n_mels": 40}, "n_mels do not apply to image modalities"),
        ({"kind": "tabular"}, "needs columns"),
        ({"kind": "text", "tokenizer": "hf"}, "needs tokenizer_path"),
        ({"kind": "image", "mean": [0.5]}, "both mean and std"),
    ):
        with pytest.raises(ValueError, match=fragment):  # a pydantic.ValidationError
            params_model.model_validate({"path": "m.csv", "modalities": {"m": bad}, "label": "y"})
    path = _write(_rows(tmp_path), tmp_path / "m.jsonl")
    with pytest.raises(ConfigError, match=r"modalities\.image"):
        _build(path, modalities={"image": {"kind": "image", "max_length": 3}})
    assert "manifest" in DATASETS.names()


def test_collate_of_manifest_samples(tmp_path: Path) -> None:
    bundle = _build(_write(_rows(tmp_path), tmp_path / "m.jsonl"))
    samples = list(bundle.splits["train"])  # type: ignore[call-overload]  # a, b (no caption), e
    batch = collate_samples(samples, bundle.info.modalities)
    caption = batch.inputs["caption"]
    assert caption.present.tolist() == [True, False, True]
    assert caption.values.shape == (3, 4)  # "A red square." has 4 tokens
    assert caption.padding_mask.tolist() == [
        [False, False, False, False],
        [False, True, True, True],  # missing: one non-padding position
        [False, False, False, True],
    ]
    assert batch.target.tolist() == [2, 1, 0]
    assert batch.inputs["image"].values.shape == (3, 3, 4, 6)


# ---------------------------------------------------------------------------------- real data


def test_flickr_photos_and_captions(tmp_path: Path) -> None:
    if not (FLICKR / "captions.csv").is_file():
        pytest.skip(f"needs {FLICKR} (the shared flickr8k-1k data set), absent here")
    with (FLICKR / "captions.csv").open(encoding="utf-8") as handle:
        first_caption: dict[str, str] = {}
        for row in csv.DictReader(handle):
            first_caption.setdefault(row["image"], row["caption"])
    chosen = list(first_caption.items())[:40]
    (tmp_path / "images").mkdir()
    rows = []
    for image, caption in chosen:
        shutil.copy(FLICKR / "images" / image, tmp_path / "images" / image)
        rows.append({"id": image, "image": f"images/{image}", "caption": caption,
                     "label": int("dog" in caption.lower())})  # fmt: skip
    path = _write(rows, tmp_path / "flickr.csv")
    modalities = {"image": {"kind": "image", "size": [32, 40]}, "caption": {"kind": "text"}}
    bundle = _build(path, modalities=modalities, val_fraction=0.2, test_fraction=0.2)
    ids = _split_ids(bundle)
    assert [len(ids[s]) for s in ("train", "val", "test")] == [24, 8, 8]
    samples = _all(bundle)
    image, caption = chosen[0]
    expected = resize_image(load_image(FLICKR / "images" / image), (32, 40))
    torch.testing.assert_close(samples[image].inputs["image"], expected)

    def words(text: str) -> list[str]:
        return re.findall(r"\w+|[^\w\s]", text.lower())

    train_words = {w for i in ids["train"] for w in words(first_caption[i])}
    tokens = bundle.state["tokenizers"]["caption"]["tokens"]
    assert set(tokens[2:]) == train_words
    for i in ids["test"]:
        got = samples[i].inputs["caption"].tolist()
        assert got == [tokens.index(w) if w in train_words else 1 for w in words(first_caption[i])]


def test_fsdd_audio_column(tmp_path: Path) -> None:
    names = ["0_george_0.wav", "1_george_0.wav", "2_jackson_0.wav", "3_theo_0.wav"]
    if not all((FSDD / n).is_file() for n in names):
        pytest.skip(f"needs {FSDD} (the shared fsdd data set), absent here")
    import soundfile as sf

    from polymodal.data.loaders.audio import load_audio
    from polymodal.data.transforms.audio import LogMelSpectrogram

    (tmp_path / "rec").mkdir()
    for n in names:
        shutil.copy(FSDD / n, tmp_path / "rec" / n)
    (tmp_path / "rec" / "bad.wav").write_bytes(b"RIFF....WAVEnot audio")
    rows = [{"id": n, "split": "train", "audio": f"rec/{n}", "label": n[0]} for n in names]
    rows.append({"id": "silent", "split": "train", "audio": None, "label": "0"})
    rows.append({"id": "bad", "split": "test", "audio": "rec/bad.wav", "label": "1"})
    audio = {"kind": "audio", "sample_rate": 8000, "n_mels": 20, "max_seconds": 0.25}
    bundle = _build(_write(rows, tmp_path / "a.jsonl"), modalities={"audio": audio},
                    bad_rows="skip")  # fmt: skip
    assert bundle.info.modalities["audio"].shape == (-1, 20)
    assert [(s.id, s.field, s.path) for s in bundle.skipped] == [("bad", "audio", "rec/bad.wav")]
    samples = _all(bundle)
    assert samples["silent"].inputs["audio"] is None
    features = LogMelSpectrogram(8000, n_mels=20, n_fft=200, hop_length=80)  # 25 ms / 10 ms
    for n in names:
        got = samples[n].inputs["audio"]
        length = min(sf.info(str(FSDD / n)).frames, 2000)  # 8 kHz files, cut at 0.25 s
        assert got.shape == (1 + length // 80, 20)
        expected = features(load_audio(tmp_path / "rec" / n, 8000)[:2000])
        torch.testing.assert_close(got, expected)
