"""A `polymodal train` process killed with SIGKILL, then resumed, ends bit-identical to a run
that was never interrupted; after every kill, the checkpoint folder holds only files that load.

Kills are seeded: the first and third land at a random delay after a new checkpoint appears,
the second as soon as a checkpoint write is seen in progress (a staged ``last-next`` file or an
atomic write's temporary file), so it lands during the write.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from polymodal.config import load_config
from polymodal.rundir.codec import load_tree, load_weights
from polymodal.train.callbacks import recover_last_checkpoint
from polymodal.train.run import train

POLYMODAL = Path(sys.executable).parent / "polymodal"
CONFIG = {
    "seed": 5,
    "data": {"name": "synthetic", "task": "redundant", "n": 300},
    "model": {
        "encoders": {"image": {"name": "cnn", "out_dim": 16}, "text": {"name": "text_gru"}},
        "fusion": "concat",
    },
    "train": {
        "max_epochs": 5,
        "batch_size": 32,
        "lr": 3e-3,
        "scheduler": "cosine",
        "warmup_epochs": 1,
        "progress": False,
        "accelerator": "cpu",
    },
}
TIMEOUT_S = 60.0


def _start(config: Path, run_dir: Path, resume: bool) -> subprocess.Popen:
    command = [str(POLYMODAL), "train", str(config), "--out", str(run_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command + (["--resume"] if resume else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else 0


def _wait_for_new_checkpoint(process: subprocess.Popen, ckpt: Path) -> bool:
    """Wait until ``last.json`` is (re)written; False if the process ended first."""
    before = _mtime(ckpt / "last.json")
    deadline = time.monotonic() + TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        if _mtime(ckpt / "last.json") != before:
            return True
        time.sleep(0.002)
    return False


def _wait_for_write_in_progress(process: subprocess.Popen, ckpt: Path) -> bool:
    """Busy-poll until a checkpoint write is under way; False if the process ended first."""
    deadline = time.monotonic() + TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        names = os.listdir(ckpt) if ckpt.is_dir() else []
        if any(n.startswith("last-next") or n.endswith(".tmp") for n in names):
            return True
    return False


def _check_after_kill(ckpt: Path) -> None:
    """Every checkpoint file loads completely; the one torn state is a pair being renamed."""
    staged_json = ckpt / "last-next.json"
    torn = staged_json.is_file() and not (ckpt / "last-next.safetensors").is_file()
    if not torn:
        load_tree(ckpt / "last")  # raises on a truncated or mismatched pair
    recover_last_checkpoint(ckpt / "last.ckpt")  # what `--resume` does first
    assert sorted(p.name for p in ckpt.iterdir()) in (
        ["data_state.json", "last.json", "last.safetensors"],
        ["data_state.json", "last.json", "last.safetensors", "model.json", "model.safetensors"],
    )
    tree = load_tree(ckpt / "last")
    assert tree["epoch"] >= 0
    assert tree["state_dict"]
    if (ckpt / "model.safetensors").exists():
        assert load_weights(ckpt / "model.safetensors")
        json.loads((ckpt / "model.json").read_text())
    json.loads((ckpt / "data_state.json").read_text())


def test_sigkill_at_random_points_then_resume_is_bit_identical(tmp_path):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    reference = tmp_path / "reference"
    train(load_config(config_path, []), reference)  # same config, never interrupted

    run_dir = tmp_path / "killed"
    ckpt = run_dir / "checkpoint"
    rng = random.Random(20240611)
    kills = 0
    for round_ in range(3):
        process = _start(config_path, run_dir, resume=round_ > 0)
        if round_ == 1:
            running = _wait_for_write_in_progress(process, ckpt)
        else:
            running = _wait_for_new_checkpoint(process, ckpt)
            time.sleep(rng.uniform(0.0, 0.3))
        if running and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=TIMEOUT_S)
        stderr = process.stderr.read().decode() if process.stderr else ""
        process.stderr.close()
        assert process.returncode in (0, -signal.SIGKILL), stderr[-2000:]
        _check_after_kill(ckpt)
    assert kills >= 2  # most rounds must really interrupt the run

    final = _start(config_path, run_dir, resume=True)
    _, stderr = final.communicate(timeout=TIMEOUT_S)
    assert final.returncode == 0, stderr.decode()[-2000:]

    for name in ("model.safetensors", "last.safetensors"):
        expected = load_file(reference / "checkpoint" / name)
        got = load_file(ckpt / name)
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key].equal(expected[key]), (name, key)
    assert (ckpt / "last.json").read_bytes() == (
        reference / "checkpoint" / "last.json"
    ).read_bytes()
    history = _untimed_history(run_dir)
    assert history == _untimed_history(reference)  # the same rows, less their wall-clock seconds
    assert len(history) == CONFIG["train"]["max_epochs"]


def _untimed_history(run_dir: Path) -> list[dict]:
    lines = (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows]


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
