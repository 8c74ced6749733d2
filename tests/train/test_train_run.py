"""Training end to end on `synthetic`: run directory, determinism, resume after a crash."""

import json
from pathlib import Path

import lightning as L
import pytest
from safetensors.torch import load_file

from polymodal.config import parse_config
from polymodal.rundir.load import load_trained
from polymodal.train.run import train


def tiny_config(**train_overrides):
    raw = {
        "seed": 7,
        "data": {"name": "synthetic", "task": "redundant", "n": 240},
        "model": {
            "encoders": {"image": {"name": "cnn", "out_dim": 16}, "text": {"name": "text_gru"}},
            "fusion": "concat",
        },
        "train": {"max_epochs": 3, "batch_size": 32, "lr": 3e-3, "progress": False}
        | train_overrides,
    }
    return parse_config(raw)


def weights(run_dir: Path):
    return load_file(run_dir / "checkpoint" / "model.safetensors")


def test_run_directory_holds_what_design_lists_and_nothing_leaks(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    run_dir = tmp_path / "run"
    result = train(tiny_config(), run_dir)
    for name in ["config.yaml", "env.json", "skipped.jsonl", "train_summary.json"]:
        assert (run_dir / name).is_file(), name
    ckpt = run_dir / "checkpoint"
    for name in ["model.safetensors", "model.json", "last.safetensors", "last.json"]:
        assert (ckpt / name).is_file(), name
    assert not list(ckpt.glob("*.ckpt"))  # no pickled Lightning checkpoint anywhere
    assert list(cwd.iterdir()) == []  # nothing written outside the run directory
    history = [
        json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert all("val/loss" in row and "train/loss" in row for row in history)
    assert result.epochs_run == 3
    env = json.loads((run_dir / "env.json").read_text())
    assert env["seed"] == 7
    config, _bundle, model = load_trained(run_dir)
    assert config == tiny_config()
    assert set(model.encoders) == {"image", "text"}


def test_same_seed_gives_bit_identical_weights_and_metrics(tmp_path):
    first = train(tiny_config(), tmp_path / "a")
    second = train(tiny_config(), tmp_path / "b")
    assert first.metrics == second.metrics
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert wa[key].equal(wb[key]), key


class CrashAfterEpoch(L.Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_resume_after_crash_equals_uninterrupted_run(tmp_path):
    stopping = {"monitor": "val/accuracy", "mode": "max", "patience": 10}
    config = tiny_config(max_epochs=4, scheduler="cosine", warmup_epochs=1, early_stopping=stopping)
    full = train(config, tmp_path / "full")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, tmp_path / "crashed", callbacks=[CrashAfterEpoch(1)])
    before = _timed_history(tmp_path / "crashed")
    resumed = train(config, tmp_path / "crashed", resume=True)
    assert resumed.epochs_run == full.epochs_run == 4
    assert resumed.best_epoch == full.best_epoch
    wa, wb = weights(tmp_path / "full"), weights(tmp_path / "crashed")
    for key in wa:
        assert wa[key].equal(wb[key]), key
    last_full = load_file(tmp_path / "full" / "checkpoint" / "last.safetensors")
    last_resumed = load_file(tmp_path / "crashed" / "checkpoint" / "last.safetensors")
    for key in last_full:
        assert last_full[key].equal(last_resumed[key]), key
    history_full, _ = _timed_history(tmp_path / "full")
    history_resumed, seconds = _timed_history(tmp_path / "crashed")
    assert history_resumed == history_full
    assert seconds[: len(before[1])] == before[1]  # epochs run before the crash keep their time
    assert len(seconds) == 4
    assert all(s > 0 for s in seconds)


def _timed_history(run_dir: Path) -> tuple[list[dict], list[float]]:
    """``logs/metrics.jsonl`` rows without ``epoch_seconds``, and those seconds."""
    rows = [
        json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
    ]
    return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows], [
        r["epoch_seconds"] for r in rows
    ]


def test_resume_refuses_a_different_config_or_missing_checkpoint(tmp_path):
    from polymodal.errors import CheckpointError

    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_config(), tmp_path / "none", resume=True)
    train(tiny_config(max_epochs=1), tmp_path / "run")
    with pytest.raises(CheckpointError, match="config differs"):
        train(tiny_config(max_epochs=2), tmp_path / "run", resume=True)


def test_bad_data_fails_before_anything_is_written(tmp_path):
    from polymodal.errors import PolymodalError

    config = parse_config(
        {
            "data": {
                "name": "manifest",
                "path": str(tmp_path / "missing.jsonl"),
                "modalities": {"x": {"kind": "tabular", "columns": ["a"]}},
                "label": "y",
            },
            "model": {"encoders": {"x": "mlp"}},
        }
    )
    with pytest.raises(PolymodalError, match=r"missing\.jsonl"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # a corrected rerun is not refused as "already a run"


def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_it_again(tmp_path):
    import shutil

    train(tiny_config(max_epochs=1), tmp_path / "fresh")
    train(tiny_config(max_epochs=1), tmp_path / "stopped")
    shutil.rmtree(tmp_path / "stopped" / "checkpoint")  # as if killed before any checkpoint
    train(tiny_config(max_epochs=1), tmp_path / "stopped", resume=True)
    fresh = load_file(tmp_path / "fresh" / "checkpoint" / "model.safetensors")
    again = load_file(tmp_path / "stopped" / "checkpoint" / "model.safetensors")
    assert fresh.keys() == again.keys()
    assert all(fresh[k].equal(again[k]) for k in fresh)
