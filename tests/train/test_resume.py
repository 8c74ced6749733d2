"""`train_or_resume`: what a run directory holds decides between a fresh run, a resumed one and
nothing; the resumed run ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import lightning as L
import pytest
from safetensors.torch import load_file

from polymodal.config import parse_config
from polymodal.train.resume import FAILED_MARK, mark_failed, run_state, train_or_resume


def config(max_epochs: int = 3):
    raw = {
        "seed": 3,
        "data": {"name": "synthetic", "task": "redundant", "n": 160},
        "model": {"encoders": {"image": {"name": "cnn", "out_dim": 8}}, "fusion": "concat"},
        "train": {"max_epochs": max_epochs, "batch_size": 32, "lr": 3e-3, "progress": False,
                  "scheduler": "cosine", "warmup_epochs": 1},
    }  # fmt: skip
    return parse_config(raw)


class Crash(L.Callback):
    """Raises at the end of epoch ``epoch``, before its checkpoint (extra callbacks run first)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_states_and_a_resumed_run_equal_to_an_uninterrupted_one(tmp_path):
    cfg = config()
    assert train_or_resume(cfg, tmp_path / "full")[0] == "new"
    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_or_resume(cfg, crashed, callbacks=[Crash(1)])
    assert run_state(cfg, crashed) == "interrupted"
    history_before = (crashed / "logs" / "metrics.jsonl").read_text().splitlines()
    assert len(history_before) == 1  # epoch 0 was checkpointed, epoch 1 was lost
    state, result = train_or_resume(cfg, crashed)
    assert state == "interrupted"
    assert result is not None
    assert result.epochs_run == 3
    history = (crashed / "logs" / "metrics.jsonl").read_text().splitlines()
    assert history[:1] == history_before  # the first epochs kept, with their seconds: resumed
    for name in ("model.safetensors", "last.safetensors"):
        a = (tmp_path / "full" / "checkpoint" / name).read_bytes()
        assert (crashed / "checkpoint" / name).read_bytes() == a, name
    assert (crashed / "checkpoint" / "last.json").read_bytes() == (
        tmp_path / "full" / "checkpoint" / "last.json"
    ).read_bytes()

    assert run_state(cfg, crashed) == "finished"
    stamp = (crashed / "checkpoint" / "model.safetensors").stat().st_mtime_ns
    assert train_or_resume(cfg, crashed) == ("finished", None)  # nothing trained again
    assert (crashed / "checkpoint" / "model.safetensors").stat().st_mtime_ns == stamp


def test_another_config_or_a_failed_run_starts_from_scratch(tmp_path):
    run = tmp_path / "run"
    train_or_resume(config(max_epochs=1), run)
    assert run_state(config(max_epochs=2), run) == "stale"
    (run / "leftover.txt").write_text("x")
    state, result = train_or_resume(config(max_epochs=2), run)
    assert state == "stale"
    assert result is not None
    assert result.epochs_run == 2
    assert not (run / "leftover.txt").exists()  # emptied first
    reference = tmp_path / "reference"
    train_or_resume(config(max_epochs=2), reference)
    weights = load_file(run / "checkpoint" / "model.safetensors")
    expected = load_file(reference / "checkpoint" / "model.safetensors")
    assert all(weights[k].equal(expected[k]) for k in expected)

    mark_failed(run, "Traceback ...")
    assert (run / FAILED_MARK).read_text() == "Traceback ..."
    assert run_state(config(max_epochs=2), run) == "stale"
    assert run_state(config(), tmp_path / "absent") == "new"
