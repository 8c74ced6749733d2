"""Tests of the manifest features for paired (contrastive) data: ``root``, ``group_column``,
unlabelled manifests (task ``none``) and ``ManifestDataset.item_keys``, on files written here and
on the real ../shared/data/flickr8k-1k."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from polymodal.data.bundle import DataBundle
from polymodal.data.collate import collate_samples
from polymodal.data.manifest import ManifestDataset, manifest_dataset
from polymodal.data.schema import TaskSpec
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

FLICKR = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "flickr8k-1k"

IMAGE = {"kind": "image", "column": "image", "size": [2, 2]}
CAPTION = {"kind": "text", "column": "caption", "tokenizer": "word", "max_length": 8}


def _png(path: Path, rgb: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (3, 2), rgb).save(path)


def _csv(rows: list[dict[str, Any]], path: Path) -> Path:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows([{c: "" if r.get(c) is None else r[c] for c in columns} for r in rows])
    return path


def _jsonl(rows: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _split(bundle: DataBundle, name: str) -> ManifestDataset:
    dataset = bundle.splits[name]
    assert isinstance(dataset, ManifestDataset)
    return dataset


# ------------------------------------------------------------------------------------ root


def _captions(folder: Path) -> Path:
    """``folder/captions.csv`` over ``folder/images/{red,blue}.png``, two captions each."""
    _png(folder / "images" / "red.png", (255, 0, 0))
    _png(folder / "images" / "blue.png", (0, 0, 255))
    rows = [
        {"image": "red.png", "caption": "a red square"},
        {"image": "red.png", "caption": "something red"},
        {"image": "blue.png", "caption": "a blue square"},
        {"image": "blue.png", "caption": "blue it is"},
    ]
    return _csv(rows, folder / "captions.csv")


def test_root_resolves_cells_relative_to_the_manifests_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = _captions(tmp_path / "flickr")
    monkeypatch.chdir(tmp_path)  # a relative root is not relative to the working directory
    bundle = manifest_dataset(
        seed=0, path=manifest, root="images", modalities={"image": IMAGE}, label=None,
        val_fraction=0.0, test_fraction=0.0,
    )  # fmt: skip
    train = _split(bundle, "train")
    red, blue = train[0].inputs["image"], train[2].inputs["image"]
    assert red is not None
    assert blue is not None
    assert torch.equal(red, torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 2, 2))
    assert torch.equal(blue, torch.tensor([0.0, 0.0, 1.0])[:, None, None].expand(3, 2, 2))
    assert train.item_keys("image") == ["red.png", "red.png", "blue.png", "blue.png"]


def test_root_confines_paths(tmp_path: Path) -> None:
    folder = tmp_path / "flickr"
    manifest = _captions(folder)
    _png(folder / "secret.png", (0, 255, 0))  # next to the manifest but outside root
    rows = [{"image": "red.png", "caption": "ok"}, {"image": "../secret.png", "caption": "x"}]
    _csv(rows, manifest)
    for policy in ("error", "skip"):  # refused whatever the bad-row policy
        with pytest.raises(DataError) as info:
            manifest_dataset(seed=0, path=manifest, root="images", modalities={"image": IMAGE},
                             label=None, bad_rows=policy)  # fmt: skip
        message = str(info.value)
        assert "row 2" in message
        assert "'../secret.png'" in message
        assert "leads outside the data root (root: 'images')" in message
        assert str((folder / "images").resolve()) in message
    # without root, the same cell stays inside the manifest's folder... and is not found
    with pytest.raises(DataError, match=r"secret\.png"):
        manifest_dataset(seed=0, path=manifest, modalities={"image": IMAGE}, label=None)


def test_root_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    manifest = _captions(tmp_path)
    with pytest.raises(DataError) as info:
        manifest_dataset(seed=0, path=manifest, root="imgs", modalities={"image": IMAGE},
                         label=None)  # fmt: skip
    assert "root 'imgs' is not a folder" in str(info.value)
    assert str(tmp_path.resolve() / "imgs") in str(info.value)


# ------------------------------------------------------------------------------------ groups


def _grouped_rows(n_groups: int, per_group: int) -> list[dict[str, Any]]:
    """``per_group`` caption rows per group ``g<i>``; tabular ``f = i`` names the group too."""
    return [
        {"g": f"g{i}", "caption": f"caption {k} of {i}", "f": i}
        for i in range(n_groups)
        for k in range(per_group)
    ]


GROUPED = {"caption": CAPTION, "tab": {"kind": "tabular", "columns": ["f"]}}


def _groups_of(dataset: ManifestDataset) -> Counter[str]:
    return Counter(json.loads(k)[0] for k in dataset.item_keys("tab"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("val_fraction", "counts"), [(0.0, (800, 0, 200)), (0.1, (700, 100, 200))])
def test_group_split_counts_groups(
    tmp_path: Path, val_fraction: float, counts: tuple[int, int, int]
) -> None:
    path = _jsonl(_grouped_rows(1000, 5), tmp_path / "m.jsonl")
    bundle = manifest_dataset(seed=3, path=path, modalities=GROUPED, label=None,
                              group_column="g", val_fraction=val_fraction,
                              test_fraction=0.2)  # fmt: skip
    groups = {s: _groups_of(_split(bundle, s)) for s in ("train", "val", "test")}
    assert tuple(len(groups[s]) for s in ("train", "val", "test")) == counts
    assert tuple(len(bundle.splits[s]) for s in ("train", "val", "test")) == tuple(  # type: ignore[arg-type]
        5 * c for c in counts
    )
    for counter in groups.values():  # every group whole: all its 5 rows in its split
        assert set(counter.values()) <= {5}
    assert not (set(groups["train"]) & set(groups["test"]))
    assert not (set(groups["train"]) & set(groups["val"]))
    assert not (set(groups["val"]) & set(groups["test"]))
    assert len(_split(bundle, "val")) == counts[1] * 5  # 0 rows: an empty split, not absent


def test_group_split_is_seeded(tmp_path: Path) -> None:
    path = _jsonl(_grouped_rows(50, 2), tmp_path / "m.jsonl")

    def test_groups(seed: int) -> set[float]:
        bundle = manifest_dataset(seed=seed, path=path, modalities=GROUPED, label=None,
                                  group_column="g", val_fraction=0.0,
                                  test_fraction=0.2)  # fmt: skip
        return set(_groups_of(_split(bundle, "test")))

    assert test_groups(0) == test_groups(0)
    assert test_groups(0) != test_groups(1)
    assert len(test_groups(1)) == 10


def test_rows_with_an_empty_group_cell_are_groups_of_their_own(tmp_path: Path) -> None:
    rows = _grouped_rows(4, 1) + [{"g": None, "caption": "alone", "f": 9}] * 6
    path = _jsonl(rows, tmp_path / "m.jsonl")
    bundle = manifest_dataset(seed=0, path=path, modalities=GROUPED, label=None,
                              group_column="g", val_fraction=0.0,
                              test_fraction=0.5)  # fmt: skip
    assert len(bundle.splits["test"]) == 5  # type: ignore[arg-type]  # 5 of 10 groups, 1 row each


def test_group_column_with_a_split_column(tmp_path: Path) -> None:
    rows = [dict(r, split="test" if r["g"] == "g9" else "train") for r in _grouped_rows(10, 3)]
    path = _jsonl(rows, tmp_path / "m.jsonl")
    bundle = manifest_dataset(seed=0, path=path, modalities=GROUPED, label=None,
                              group_column="g", val_fraction=0.2)  # fmt: skip
    groups = {s: _groups_of(_split(bundle, s)) for s in ("train", "val", "test")}
    assert set(groups["test"]) == {9.0}
    assert len(groups["val"]) == 2  # 20 % of the 9 training groups, carved out whole
    assert set(groups["val"].values()) == {3}
    assert not set(groups["val"]) & set(groups["train"])

    rows[4]["split"] = "test"  # row 5: one row of group g1 (rows 4-6) moves to test
    _jsonl(rows, path)
    with pytest.raises(DataError) as info:
        manifest_dataset(seed=0, path=path, modalities=GROUPED, label=None, group_column="g")
    message = str(info.value)
    assert "rows of one 'g' group are in two splits" in message
    assert "g 'g1': row 4 is train, row 5 is test" in message
    assert "fix:" in message


def test_group_column_must_exist(tmp_path: Path) -> None:
    path = _jsonl(_grouped_rows(3, 1), tmp_path / "m.jsonl")
    with pytest.raises(DataError, match="'image' not found"):
        manifest_dataset(seed=0, path=path, modalities=GROUPED, label=None, group_column="image")


# ------------------------------------------------------------------------------ no label


def test_unlabelled_manifest_has_task_none_and_no_targets(tmp_path: Path) -> None:
    path = _jsonl(_grouped_rows(6, 2), tmp_path / "m.jsonl")
    bundle = DATASETS.create("manifest", seed=0, path=str(path), modalities=GROUPED, label=None,
                             group_column="g", test_fraction=0.34)  # fmt: skip
    assert bundle.info.task == TaskSpec("none", 0)
    assert bundle.state["task"] == "none"
    assert bundle.state["class_names"] is None
    train = _split(bundle, "train")
    assert all(train[i].target is None for i in range(len(train)))
    batch = collate_samples([train[i] for i in range(len(train))], bundle.info.modalities)
    assert batch.target is None
    assert batch.inputs["caption"].values.shape == (len(train), 4)  # "caption k of i"
    # the state round trip reproduces the vocabulary, for the task none
    again = manifest_dataset(seed=0, path=path, modalities=GROUPED, label=None,
                             group_column="g", test_fraction=0.34,
                             state=bundle.state)  # fmt: skip
    assert again.state == bundle.state
    assert torch.equal(_split(again, "test")[0].inputs["caption"],  # type: ignore[arg-type]
                       _split(bundle, "test")[0].inputs["caption"])  # type: ignore[arg-type]  # fmt: skip


def test_label_null_is_accepted_by_config_validation() -> None:
    params = {"path": "m.csv", "modalities": {"caption": CAPTION}, "label": None}
    validated = DATASETS.params_model("manifest").model_validate(params)
    assert validated.label is None
    assert validated.task is None


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"label": None, "classes": ["a", "b"]}, "classes: an unlabelled dataset"),
        ({"label": None, "task": "multiclass"}, "label: a multiclass task needs a label"),
        ({"label": "g", "task": "none"}, "task: none reads no label"),
    ],
)
def test_label_and_task_must_agree(tmp_path: Path, params: dict[str, Any], problem: str) -> None:
    path = _jsonl(_grouped_rows(3, 1), tmp_path / "m.jsonl")
    with pytest.raises(ConfigError) as info:
        manifest_dataset(seed=0, path=path, modalities=GROUPED, **params)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_labelled_state_is_refused_for_an_unlabelled_manifest(tmp_path: Path) -> None:
    path = _jsonl(_grouped_rows(4, 1), tmp_path / "m.jsonl")
    labelled = manifest_dataset(seed=0, path=path, modalities=GROUPED, label="g")
    assert labelled.info.task.type == "multiclass"  # the default task with a label
    with pytest.raises(DataError, match="not a manifest state for task 'none'"):
        manifest_dataset(seed=0, path=path, modalities=GROUPED, label=None, state=labelled.state)


# ------------------------------------------------------------------------------ item keys


def test_item_keys_of_files_name_the_same_file_equally(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "a.png", (255, 0, 0))
    _png(tmp_path / "img" / "b.png", (0, 255, 0))
    (tmp_path / "link.png").symlink_to(tmp_path / "img" / "a.png")
    rows = [
        {"image": "img/a.png", "caption": "one"},
        {"image": "./img/../img/a.png", "caption": "two"},  # written otherwise, same file
        {"image": "link.png", "caption": "three"},  # a symlink to it
        {"image": "img/b.png", "caption": "one"},  # same text as row 1
        {"image": None, "caption": None},
    ]
    path = _jsonl(rows, tmp_path / "m.jsonl")
    bundle = manifest_dataset(seed=0, path=path, modalities={"image": IMAGE, "caption": CAPTION},
                              label=None, val_fraction=0.0, test_fraction=0.0)  # fmt: skip
    train = _split(bundle, "train")
    assert train.item_keys("image") == ["img/a.png"] * 3 + ["img/b.png", None]
    assert train.item_keys("caption") == ["one", "two", "three", "one", None]
    first, second = train[0].inputs["image"], train[1].inputs["image"]
    assert first is second  # decoded once, shared
    assert torch.equal(first, torch.tensor([1.0, 0, 0])[:, None, None].expand(3, 2, 2))  # type: ignore[arg-type]
    assert torch.equal(train[3].inputs["image"][1], torch.ones(2, 2))  # type: ignore[index]


def test_item_keys_of_text_files_and_tabular_values(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.txt").write_text("hello there", encoding="utf-8")
    rows = [
        {"doc": "t/x.txt", "f1": "1", "f2": "2.5"},
        {"doc": "t/./x.txt", "f1": "1.0", "f2": " 2.5 "},
        {"doc": None, "f1": "3", "f2": "-4"},
    ]
    path = _csv(rows, tmp_path / "m.csv")
    modalities = {"doc": {"kind": "text", "text_is_path": True},
                  "tab": {"kind": "tabular", "columns": ["f1", "f2"]}}  # fmt: skip
    bundle = manifest_dataset(seed=0, path=path, modalities=modalities, label=None,
                              val_fraction=0.0, test_fraction=0.0)  # fmt: skip
    train = _split(bundle, "train")
    assert train.item_keys("doc") == ["t/x.txt", "t/x.txt", None]
    assert train.item_keys("tab") == ["[1.0, 2.5]", "[1.0, 2.5]", "[3.0, -4.0]"]


def test_item_keys_of_an_unknown_modality(tmp_path: Path) -> None:
    path = _jsonl(_grouped_rows(3, 1), tmp_path / "m.jsonl")
    bundle = manifest_dataset(seed=0, path=path, modalities=GROUPED, label=None)
    with pytest.raises(DataError) as info:
        _split(bundle, "train").item_keys("image")
    assert "unknown modality 'image' (this manifest has: caption, tab)" in str(info.value)


def test_item_keys_without_the_in_memory_cache(tmp_path: Path) -> None:
    manifest = _captions(tmp_path)
    bundle = manifest_dataset(seed=0, path=manifest, root="images", modalities={"image": IMAGE},
                              label=None, cache_in_memory=False, val_fraction=0.0,
                              test_fraction=0.0)  # fmt: skip
    train = _split(bundle, "train")
    assert train.item_keys("image") == ["red.png", "red.png", "blue.png", "blue.png"]
    assert torch.equal(train[3].inputs["image"][2], torch.ones(2, 2))  # type: ignore[index]


# ----------------------------------------------------------------------- real Flickr8k-1k


def test_flickr8k_1k_split_by_image() -> None:
    if not (FLICKR / "captions.csv").is_file():
        pytest.skip(f"needs {FLICKR} (the shared flickr8k-1k data set), absent here")
    start = time.perf_counter()
    bundle = DATASETS.create(
        "manifest",
        seed=0,
        path=str(FLICKR / "captions.csv"),
        root="images",
        modalities={
            "image": {"kind": "image", "column": "image", "size": [32, 32]},
            "text": {"kind": "text", "column": "caption", "tokenizer": "word", "max_length": 16},
        },
        label=None,
        group_column="image",
        val_fraction=0.0,
        test_fraction=0.2,
    )
    seconds = time.perf_counter() - start
    train, test = _split(bundle, "train"), _split(bundle, "test")
    assert (len(train), len(bundle.splits["val"]), len(test)) == (4000, 0, 1000)  # type: ignore[arg-type]
    train_images, test_images = Counter(train.item_keys("image")), Counter(test.item_keys("image"))
    assert (len(train_images), len(test_images)) == (800, 200)
    assert set(train_images.values()) == set(test_images.values()) == {5}
    assert not set(train_images) & set(test_images)
    assert all((FLICKR / "images" / str(k)).is_file() for k in test_images)
    assert bundle.info.task.type == "none"
    batch = collate_samples([train[i] for i in range(8)], bundle.info.modalities)
    assert batch.target is None
    assert batch.inputs["image"].values.shape == (8, 3, 32, 32)
    assert seconds < 20, f"building took {seconds:.1f} s"
