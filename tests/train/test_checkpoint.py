"""Tests of polymodal.train.checkpoint: exact safetensors + JSON round trips, Lightning resume,
and refusal of pickles."""

from __future__ import annotations

import copy
import os
import pickle
import shutil
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import safetensors.torch
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from polymodal.errors import CheckpointError
from polymodal.train.checkpoint import (
    SafetensorsCheckpointIO,
    SafetensorsModelCheckpoint,
    checkpoint_files,
    checkpoint_stem,
    load_tree,
    load_weights,
    refuse_pickle,
    save_tree,
    save_weights,
)

# ---------------------------------------------------------------------------------------------
# exact comparison


def _bits(tensor: torch.Tensor) -> bytes:
    """The raw bytes of a tensor's elements in row-major order."""
    own = tensor.detach().cpu().clone(memory_format=torch.contiguous_format)
    return bytes(own.untyped_storage())


def assert_same(a: Any, b: Any, where: str = "tree") -> None:
    """Same Python types, same key order, bit-identical floats and tensors."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape, a.requires_grad) == (b.dtype, b.shape, b.requires_grad), where
        assert _bits(a) == _bits(b), where
    elif isinstance(a, float):
        assert struct.pack(">d", a) == struct.pack(">d", b), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
        assert hasattr(a, "_metadata") == hasattr(b, "_metadata"), where
        if hasattr(a, "_metadata"):
            assert_same(a._metadata, b._metadata, f"{where}._metadata")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


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
    io = SafetensorsCheckpointIO()
    for path in _pickles(tmp_path):
        for load in (refuse_pickle, load_weights, io.load_checkpoint):
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
        assert _bits(loaded[name]) == _bits(weights[name].detach())
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


# ---------------------------------------------------------------------------------------------
# Lightning


class TinyModule(L.LightningModule):
    """A regressor with int64 (BatchNorm), bool and bfloat16 buffers, AdamW and StepLR."""

    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("scale", torch.tensor([0.5, 3.0], dtype=torch.bfloat16))
        self.steps_run = 0  # training steps run by this process (not part of the checkpoint)

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.net(x).squeeze(-1), y)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.steps_run += 1
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams["lr"])
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


class RecordingIO(SafetensorsCheckpointIO):
    """Keeps a deep copy of every checkpoint dict Lightning asks to save."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None):  # type: ignore[override]
        self.saved[Path(path).name] = copy.deepcopy(checkpoint)
        super().save_checkpoint(checkpoint, path, storage_options)


def _loaders() -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 4, generator=g), torch.randn(48, generator=g)
    train = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=8, shuffle=False)
    val = DataLoader(TensorDataset(x[32:], y[32:]), batch_size=8, shuffle=False)
    return train, val


def _fit(
    root: Path,
    epochs: int,
    *,
    ckpt_path: str | None = None,
    io: SafetensorsCheckpointIO | None = None,
    checkpoint_cls: type[ModelCheckpoint] = ModelCheckpoint,
) -> tuple[L.Trainer, TinyModule]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = TinyModule()
    trainer = L.Trainer(
        max_epochs=epochs,
        plugins=[io or SafetensorsCheckpointIO()],
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=1,
        callbacks=[
            EarlyStopping(monitor="val_loss", patience=100),
            checkpoint_cls(monitor="val_loss", save_last=True),
        ],
    )
    # float sums depend on how work is split over threads: every run uses one thread, whatever
    # the fixture order (the module-scoped reference runs before function-scoped fixtures)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.fit(model, *_loaders(), ckpt_path=ckpt_path)
    finally:
        torch.set_num_threads(threads)
    return trainer, model


def _final_state(trainer: L.Trainer, model: TinyModule) -> dict[str, Any]:
    early = next(cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping))  # type: ignore[attr-defined]
    return {
        "weights": model.state_dict(),
        "optimizer": trainer.optimizers[0].state_dict(),
        "scheduler": trainer.lr_scheduler_configs[0].scheduler.state_dict(),
        "global_step": trainer.global_step,
        "best_score": early.best_score,
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four epochs in one go: the reference for resumed runs."""
    return _final_state(*_fit(tmp_path_factory.mktemp("reference"), 4))


def test_lightning_checkpoint_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    io = RecordingIO()
    _fit(tmp_path / "root", 2, io=io)
    folder = tmp_path / "root" / "checkpoints"
    assert sorted(io.saved) == ["epoch=0-step=4.ckpt", "epoch=1-step=8.ckpt", "last.ckpt"]
    last = io.saved["last.ckpt"]
    # the real checkpoint holds what JSON cannot: int keys, tuples, None, bool, special dtypes
    optimizer = last["optimizer_states"][0]
    assert set(optimizer["state"]) == {0, 1, 2, 3, 4, 5}
    assert isinstance(optimizer["param_groups"][0]["betas"], tuple)
    assert {last["state_dict"][k].dtype for k in last["state_dict"]} == {
        torch.float32,
        torch.int64,
        torch.bool,
        torch.bfloat16,
    }
    assert any(
        isinstance(v["best_score"], torch.Tensor)
        for v in last["callbacks"].values()
        if "best_score" in v
    )
    for name in ("last", "epoch=1-step=8"):
        for given in (f"{name}.ckpt", name, f"{name}.json", f"{name}.safetensors"):
            assert_same(io.saved[f"{name}.ckpt"], io.load_checkpoint(folder / given))
    # epoch 0's checkpoint was replaced by epoch 1's (removed: both files)
    assert sorted(p.name for p in folder.iterdir()) == [
        "epoch=1-step=8.json",
        "epoch=1-step=8.safetensors",
        "last.json",
        "last.safetensors",
    ]
    assert list(cwd.iterdir()) == []  # nothing written outside default_root_dir


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
@pytest.mark.parametrize(
    ("checkpoint_cls", "resume_from"),
    [(ModelCheckpoint, "checkpoints/last.ckpt"), (SafetensorsModelCheckpoint, "last")],
)
def test_resume_is_bit_identical_to_uninterrupted(
    tmp_path: Path,
    uninterrupted: dict[str, Any],
    checkpoint_cls: type[ModelCheckpoint],
    resume_from: str,
) -> None:
    _fit(tmp_path, 2, checkpoint_cls=checkpoint_cls)
    ckpt_path = resume_from if resume_from == "last" else str(tmp_path / resume_from)
    trainer, model = _fit(tmp_path, 4, ckpt_path=ckpt_path, checkpoint_cls=checkpoint_cls)
    assert model.steps_run == 8  # really resumed: epochs 2 and 3 only (4 batches each)
    resumed = _final_state(trainer, model)
    assert resumed["global_step"] == uninterrupted["global_step"] == 16
    assert_same(uninterrupted, resumed)


def test_checkpoint_io_remove_and_options(tmp_path: Path) -> None:
    io = SafetensorsCheckpointIO()
    io.save_checkpoint({"epoch": 1, "w": torch.ones(1)}, tmp_path / "e.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json", "e.safetensors"]
    io.remove_checkpoint(tmp_path / "e.ckpt")
    assert list(tmp_path.iterdir()) == []
    io.remove_checkpoint(tmp_path / "e.ckpt")  # already gone: fine
    with pytest.raises(CheckpointError, match="storage_options"):
        io.save_checkpoint({"epoch": 1}, tmp_path / "e.ckpt", storage_options={"x": 1})
    with pytest.raises(CheckpointError, match="link"):
        SafetensorsModelCheckpoint(save_last="link")
