"""Tests of polymodal.train.checkpoint: Lightning saves, resumes and removes checkpoints in
polymodal's safetensors + JSON files (the format itself: tests/rundir/test_codec.py)."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from exact_compare import assert_same
from polymodal.errors import CheckpointError
from polymodal.train.checkpoint import SafetensorsCheckpointIO, SafetensorsModelCheckpoint


class _Evil:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def test_checkpoint_io_refuses_pickles(tmp_path: Path) -> None:
    io = SafetensorsCheckpointIO()
    state = {"w": torch.ones(2)}
    torch.save(state, tmp_path / "zip.ckpt")
    torch.save(state, tmp_path / "legacy.ckpt", _use_new_zipfile_serialization=False)
    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps(_Evil(tmp_path / "ran"), protocol=4))
    for name in ("zip.ckpt", "legacy.ckpt", "evil.ckpt"):
        with pytest.raises(CheckpointError, match="refusing to unpickle"):
            io.load_checkpoint(tmp_path / name)
    assert not (tmp_path / "ran").exists()  # nothing was unpickled


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
