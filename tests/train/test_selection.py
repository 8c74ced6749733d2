"""train.selection: which epoch's weights a run keeps for evaluation, and where it says so."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from polymodal.config import parse_config
from polymodal.errors import ConfigError
from polymodal.rundir.load import weights_selection
from polymodal.train.callbacks import BestWeights
from polymodal.train.run import train


class Snapshots(L.Callback):
    """The model's weights and val/loss after every epoch (validation included)."""

    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []
        self.val_loss: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        state = module.model.state_dict()
        self.weights.append({k: v.detach().clone() for k, v in state.items()})
        self.val_loss.append(float(trainer.callback_metrics["val/loss"]))


def config(selection: str):
    raw = {
        "seed": 3,
        "data": {"name": "synthetic", "task": "redundant", "n": 160},
        "model": {"encoders": {"image": {"name": "cnn", "out_dim": 8}}},
        # a large learning rate makes val/loss go up and down, so best != last
        "train": {"max_epochs": 4, "batch_size": 16, "lr": 0.05, "progress": False}
        | {"selection": selection},
    }
    return parse_config(raw)


def _assert_same(saved: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert saved.keys() == expected.keys()
    for key in saved:
        assert saved[key].equal(expected[key]), key


@pytest.mark.parametrize("selection", ["best", "last"])
def test_the_run_keeps_the_selected_epochs_weights_and_records_the_rule(tmp_path, selection):
    snapshots = Snapshots()
    run_dir = tmp_path / selection
    train(config(selection), run_dir, callbacks=[snapshots])
    best = min(range(4), key=lambda e: (snapshots.val_loss[e], e))
    epoch = best if selection == "best" else 3
    _assert_same(load_file(run_dir / "checkpoint" / "model.safetensors"), snapshots.weights[epoch])
    info = json.loads((run_dir / "checkpoint" / "model.json").read_text())
    assert (info["epoch"], info["selection"]) == (epoch, selection)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["selection"] == selection
    assert summary["best_epoch"] == best  # the best epoch is reported either way
    assert weights_selection(run_dir) == {"selection": selection, "epoch": epoch,
                                          "monitor": "val/loss"}  # fmt: skip


def test_without_validation_best_falls_back_to_the_last_epoch_and_says_so(tmp_path):
    callback = BestWeights(tmp_path, selection="best")

    class Trainer:  # the two attributes the callback reads
        is_global_zero, current_epoch, global_step, callback_metrics = True, 5, 50, {}

    class Module(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = torch.nn.Linear(2, 1)

    callback.on_train_epoch_end(Trainer(), Module())  # type: ignore[arg-type]
    assert callback.rule == "last"
    assert weights_selection(tmp_path.parent / "x") == {}  # a run without model.json: nothing
    info = json.loads((tmp_path / "model.json").read_text())
    assert (info["epoch"], info["selection"], info["value"]) == (5, "last", None)


def test_an_unknown_selection_is_a_config_error():
    with pytest.raises(ConfigError, match="selection"):
        config("median")
