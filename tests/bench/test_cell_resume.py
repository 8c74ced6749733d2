"""A `polymodal bench` process killed with SIGKILL in the middle of a cell's training: the next
`polymodal bench` continues that cell from its last epoch's checkpoint (not from zero) and ends
bit-identical to an uninterrupted benchmark: weights, resumable state, history and metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from polymodal.bench.cells import parse_spec
from polymodal.bench.runner import run_benchmark
from polymodal.bench.store import STORE_FILE, SQLiteStore
from polymodal.rundir.codec import load_tree


def bench_command(spec: Path, out: Path) -> list[str]:
    script = Path(sys.executable).with_name("polymodal")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "polymodal.cli.main"]
    return [*head, "bench", str(spec), "--out", str(out)]


def environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


SPEC = """
name: resume
datasets:
  - {name: synthetic, task: redundant, n: 300}
models:
  concat:
    encoders:
      image: {name: cnn, out_dim: 8, channels: 4, num_blocks: 2}
      audio: {name: audio_conv, out_dim: 8, channels: 8, num_layers: 1}
    fusion: concat
seeds: [0]
train:
  max_epochs: 6
  batch_size: 16
  lr: 0.01
  scheduler: cosine
  warmup_epochs: 1
  early_stopping: {monitor: val/accuracy, mode: max, patience: 20}
eval: {resamples: 50}
leaderboard: {resamples: 50}
"""
RUN = "runs/synthetic-redundant__concat__s0"


def checkpointed_epoch(ckpt: Path) -> int:
    """The epoch of ``last.json`` (-1 while there is none, or while it is being replaced)."""
    try:
        return int(load_tree(ckpt / "last")["epoch"])
    except Exception:
        return -1


def history(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]


def test_a_cell_killed_mid_training_resumes_from_its_checkpoint(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC)
    reference = tmp_path / "reference"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses (OMP_NUM_THREADS=1)
    try:
        run_benchmark(parse_spec(yaml.safe_load(SPEC)), reference)
    finally:
        torch.set_num_threads(threads)

    bench_dir = tmp_path / "bench"
    ckpt = bench_dir / RUN / "checkpoint"
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(
        bench_command(spec_file, bench_dir), stdout=log, stderr=subprocess.STDOUT, env=environment()
    )
    deadline = time.monotonic() + 240
    while checkpointed_epoch(ckpt) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint of epoch 2 in time"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    log.close()
    assert process.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()
    killed_at = checkpointed_epoch(ckpt)
    assert 2 <= killed_at < 5  # killed mid-training
    before = history(bench_dir / RUN)[: killed_at + 1]

    again = subprocess.run(
        bench_command(spec_file, bench_dir),
        capture_output=True,
        text=True,
        env=environment(),
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    after = history(bench_dir / RUN)
    assert len(after) == 6
    assert after[: killed_at + 1] == before  # epochs before the kill (and their seconds) kept

    expected = history(reference / RUN)
    untimed = [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in after]
    assert untimed == [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in expected]
    for name in ("model.safetensors", "model.json", "last.safetensors", "last.json"):
        got = (ckpt / name).read_bytes()
        assert got == (reference / RUN / "checkpoint" / name).read_bytes(), name
    with SQLiteStore(bench_dir / STORE_FILE) as store, SQLiteStore(reference / STORE_FILE) as ref:
        (cell,), (ref_cell,) = store.cells(), ref.cells()
    assert (cell.status, cell.starts, cell.completions) == ("done", 2, 1)
    assert cell.metrics["metrics"] == ref_cell.metrics["metrics"]
    assert cell.metrics["intervals"] == ref_cell.metrics["intervals"]
