"""Tests of polymodal.rundir.codec: exact safetensors + JSON round trips, weights files, and
refusal of pickles (the Lightning plugins: tests/train/test_checkpoint.py)."""

from __future__ import annotations

import os
import pickle
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from torch import nn

from exact_compare import assert_same, bits
from polymodal.errors import CheckpointError
from polymodal.rundir.codec import (
    checkpoint_files,
    checkpoint_stem,
    load_tree,
    load_weights,
    refuse_pickle,
    save_tree,
    save_weights,
)

# ---------------------------------------------------------------------------------------------
# save_tree / load_tree


def _edge_tree() -> dict[Any, Any]:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    shared = torch.tensor([1.5, -2.0])
    state = nn.Sequential(
        nn.Linear(2, 3), nn.BatchNorm1d(3)
    ).state_dict()  # OrderedDict + _metadata
    odd = OrderedDict([(3, "three"), ("x", [])])
    return {
        "state_dict": state,
        "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": []}],
        7: (1, 2.5, -0.0, float("inf"), float("-inf"), float("nan"), None, True, False),
        "big": [2**70, -(2**63), 0],
        "bytes": b"\x00\x80\xff",
        "text": "é \u2603 \ud800 quote' \"",
        "keys": {(1, "a"): 1, None: 2, True: 3, 2.5: 4, b"k": 5, "__pm__": 6},
        "tag_lookalike": {"__pm__": "tensor", "key": "x"},
        "odd": odd,
        "empty": [{}, [], (), OrderedDict(), ""],
        "dtypes": {
            "bf16": torch.tensor([1.0, -3.5, 1e-3], dtype=torch.bfloat16),
            "f16": torch.tensor([65504.0, -0.0], dtype=torch.float16),
            "f64": torch.tensor([1 / 3], dtype=torch.float64),
            "i64": torch.tensor([2**62, -(2**63)], dtype=torch.int64),
            "i8": torch.tensor([-128, 127], dtype=torch.int8),
            "u8": torch.tensor([0, 255], dtype=torch.uint8),
            "bool": torch.tensor([[True, False], [False, True]]),
            "c64": torch.tensor([1 + 2j], dtype=torch.complex64),
            "nan": torch.tensor([float("nan"), float("inf")]),
        },
        "views": {"t": base.t(), "row": base[1], "col": base[:, 2], "strided": base[::2, ::3]},
        "scalar": torch.tensor(5, dtype=torch.int64),
        "no_elements": torch.zeros(0, 3),
        "same": [shared, shared],
        "param": nn.Parameter(torch.ones(2)),
        "frozen": nn.Parameter(torch.ones(1), requires_grad=False),
        "grad": torch.zeros(2, requires_grad=True),
    }


def test_round_trip_is_exact_on_edge_values(tmp_path: Path) -> None:
    tree = _edge_tree()
    save_tree(tree, tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]
    loaded = load_tree(tmp_path / "ckpt")
    assert_same(tree, loaded)
    # one tensor object referenced twice comes back as one object; views get their own storage
    assert loaded["same"][0] is loaded["same"][1]
    assert loaded["views"]["row"].data_ptr() != loaded["views"]["t"].data_ptr()
    assert loaded["state_dict"]._metadata["1"] == {"version": 2}  # BatchNorm's version


def test_tensors_file_is_plain_safetensors_with_path_keys(tmp_path: Path) -> None:
    tree = {"state_dict": OrderedDict(w=torch.ones(2, 3)), "opt": [{"state": {0: torch.ones(1)}}]}
    save_tree(tree, tmp_path / "c")
    tensors = safetensors.torch.load_file(tmp_path / "c.safetensors")  # reference reader
    assert sorted(tensors) == ["opt/0/state/0", "state_dict/w"]
    assert torch.equal(tensors["state_dict/w"], torch.ones(2, 3))


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the same layer weights in both trees
            tree = _edge_tree()
        save_tree(tree, tmp_path / folder / "ckpt")
    for suffix in (".json", ".safetensors"):
        a = (tmp_path / "a" / f"ckpt{suffix}").read_bytes()
        assert a == (tmp_path / "b" / f"ckpt{suffix}").read_bytes()


def test_map_location_moves_every_tensor(tmp_path: Path) -> None:
    save_tree({"w": torch.ones(2), "n": {1: torch.zeros(1)}}, tmp_path / "c")
    loaded = load_tree(tmp_path / "c", map_location="meta")
    assert loaded["w"].device.type == "meta"
    assert loaded["n"][1].device.type == "meta"
    with pytest.raises(CheckpointError, match="map_location"):
        load_tree(tmp_path / "c", map_location=lambda s, _: s)  # type: ignore[arg-type]


class _Thing:
    pass


class _Sub(torch.Tensor):
    pass


def _cycle() -> dict[str, Any]:
    loop: list[Any] = []
    loop.append(loop)
    return {"cbs": {"a": loop}}


@pytest.mark.parametrize(
    ("tree", "where", "what"),
    [
        (
            {"callbacks": {"Early{'m': 1}": {"state": [1, {2: _Thing()}]}}},
            "checkpoint['callbacks'][\"Early{'m': 1}\"]['state'][1][2]",
            "_Thing",
        ),
        ({"hp": {"path": Path("x")}}, "checkpoint['hp']['path']", "Path"),
        ({"hp": {"lr": __import__("numpy").float64(0.1)}}, "checkpoint['hp']['lr']", "float64"),
        ({"s": {1, 2}}, "checkpoint['s']", "set"),
        ({"k": {frozenset(): 1}}, "checkpoint['k']", "frozenset"),
        ({"t": torch.zeros(2, dtype=torch.complex128)}, "checkpoint['t']", "complex128"),
        ({"t": torch.zeros(2).to_sparse()}, "checkpoint['t']", "sparse"),
        ({"t": torch.zeros(2).as_subclass(_Sub)}, "checkpoint['t']", "_Sub"),
        (_cycle(), "checkpoint['cbs']['a'][0]", "contains itself"),
    ],
)
def test_unsupported_object_raises_naming_key_path(
    tmp_path: Path, tree: dict[str, Any], where: str, what: str
) -> None:
    with pytest.raises(CheckpointError) as info:
        save_tree(tree, tmp_path / "c")
    assert info.value.where == where
    assert what in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_missing_or_mismatched_files_raise(tmp_path: Path) -> None:
    save_tree({"w": torch.ones(2)}, tmp_path / "a")
    save_tree({"w": torch.zeros(2)}, tmp_path / "b")
    a_st, a_js = checkpoint_files(tmp_path / "a")
    b_st, _ = checkpoint_files(tmp_path / "b")

    shutil.copy(a_st, tmp_path / "keep.safetensors")
    a_st.unlink()
    with pytest.raises(CheckpointError, match=r"no a\.safetensors beside it"):
        load_tree(tmp_path / "a")

    shutil.copy(b_st, a_st)  # the other checkpoint's tensors: same keys, other values
    with pytest.raises(CheckpointError, match="mismatched"):
        load_tree(tmp_path / "a")

    shutil.copy(tmp_path / "keep.safetensors", a_st)
    a_js.write_text(a_js.read_text()[:40])  # truncated JSON
    with pytest.raises(CheckpointError, match="cannot be parsed"):
        load_tree(tmp_path / "a")

    a_js.unlink()
    with pytest.raises(
        CheckpointError, match=r"no checkpoint JSON a\.json \(a\.safetensors exists"
    ):
        load_tree(tmp_path / "a")
    with pytest.raises(CheckpointError, match="no checkpoint JSON"):
        load_tree(tmp_path / "nothing")


def test_edited_json_is_reported_not_trusted(tmp_path: Path) -> None:
    save_tree({"w": torch.ones(2)}, tmp_path / "c")
    json_path = tmp_path / "c.json"
    json_path.write_text(json_path.read_text().replace('"tensor"', '"evil"'))
    with pytest.raises(CheckpointError, match="unknown tag 'evil'") as info:
        load_tree(tmp_path / "c")
    assert str(info.value.where).endswith("at checkpoint['w']")


@pytest.mark.parametrize(
    ("path", "stem"),
    [
        ("run/last.ckpt", "run/last"),
        ("run/last.json", "run/last"),
        ("run/last.safetensors", "run/last"),
        ("run/last", "run/last"),
        ("run/epoch=1-val_loss=0.52.ckpt", "run/epoch=1-val_loss=0.52"),
        ("run/epoch=1-val_loss=0.52", "run/epoch=1-val_loss=0.52"),
    ],
)
def test_checkpoint_stem(path: str, stem: str) -> None:
    assert checkpoint_stem(path) == Path(stem)
    assert checkpoint_files(stem) == (Path(f"{stem}.safetensors"), Path(f"{stem}.json"))


# ---------------------------------------------------------------------------------------------
# weights and pickles


class _Evil:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def _pickles(folder: Path) -> list[Path]:
    state = {"w": torch.ones(2)}
    torch.save(state, folder / "zip.pt")
    torch.save(state, folder / "legacy.ckpt", _use_new_zipfile_serialization=False)
    (folder / "evil.ckpt").write_bytes(pickle.dumps(_Evil(folder / "ran"), protocol=4))
    return [folder / "zip.pt", folder / "legacy.ckpt", folder / "evil.ckpt"]


def test_pickles_are_refused_with_conversion_recipe(tmp_path: Path) -> None:
    for path in _pickles(tmp_path):
        for load in (refuse_pickle, load_weights):
            with pytest.raises(CheckpointError) as info:
                load(path)
            message = str(info.value)
            assert "refusing to unpickle" in message
            assert str(path) in message
            assert "torch.load(PATH, weights_only=True)" in message
            assert "safetensors.torch.save_file" in message
    # a pickle renamed as the tensors file of a checkpoint is refused too
    save_tree({"w": torch.ones(1)}, tmp_path / "c")
    shutil.copy(tmp_path / "zip.pt", tmp_path / "c.safetensors")
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_tree(tmp_path / "c")
    assert not (tmp_path / "ran").exists()  # nothing was unpickled


def test_weights_round_trip_against_safetensors(tmp_path: Path) -> None:
    layer = nn.Linear(3, 3)
    weights = {"a.weight": layer.weight, "b.weight": layer.weight, "bias": layer.bias.bfloat16()}
    save_weights(weights, tmp_path / "sub" / "model.safetensors", metadata={"note": "x"})
    loaded = load_weights(tmp_path / "sub" / "model.safetensors")
    reference = safetensors.torch.load_file(tmp_path / "sub" / "model.safetensors")
    assert list(loaded) == list(reference)
    for name in weights:
        assert_same(reference[name], loaded[name])
        assert bits(loaded[name]) == bits(weights[name].detach())
    with safetensors.safe_open(tmp_path / "sub" / "model.safetensors", "pt") as f:
        assert f.metadata() == {"format": "pt", "note": "x"}
    with pytest.raises(CheckpointError, match="str -> Tensor"):
        save_weights({"w": [1.0]}, tmp_path / "bad.safetensors")  # type: ignore[dict-item]


def test_safetensors_starting_with_pickle_byte_is_accepted(tmp_path: Path) -> None:
    # a safetensors header of 128 (+256k) bytes makes the first byte 0x80, the pickle marker
    for pad in range(0, 300):
        blob = safetensors.torch.save({"w": torch.ones(1)}, metadata={"p": "x" * pad})
        if blob[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a 0x80 first byte")
    (tmp_path / "w.safetensors").write_bytes(blob)
    assert torch.equal(load_weights(tmp_path / "w.safetensors")["w"], torch.ones(1))


def test_load_weights_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_weights(tmp_path / "x.json")
    with pytest.raises(CheckpointError, match="no such weights file"):
        load_weights(tmp_path / "absent.safetensors")
