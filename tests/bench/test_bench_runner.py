"""`polymodal bench` end to end: resume after SIGKILL, two processes on one store, changed
configs, failed cells. Real subprocesses of the `polymodal` command on a tiny spec (synthetic,
n=200, 1 epoch, tiny encoders, 4 cells), compared with an uninterrupted in-process run."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from polymodal.bench.cells import load_spec, parse_spec
from polymodal.bench.report import run_and_report
from polymodal.bench.runner import BenchmarkFailed, run_benchmark
from polymodal.bench.store import STORE_FILE, SQLiteStore

SPEC = """
name: tiny
datasets:
  - {name: synthetic, task: redundant, n: 200}
models:
  image-only:
    encoders: {image: {name: cnn, out_dim: 8, channels: 4, num_blocks: 2}}
  concat:
    encoders:
      image: {name: cnn, out_dim: 8, channels: 4, num_blocks: 2}
      audio: {name: audio_conv, out_dim: 8, channels: 8, num_layers: 1}
    fusion: concat
seeds: [0, 1]
train: {max_epochs: 1, batch_size: 32, lr: 0.01}
eval: {resamples: 50}
leaderboard: {resamples: 50}
"""
KEYS = [
    "synthetic-redundant/image-only/0",
    "synthetic-redundant/image-only/1",
    "synthetic-redundant/concat/0",
    "synthetic-redundant/concat/1",
]


def bench_command(spec: Path, out: Path) -> list[str]:
    script = Path(sys.executable).with_name("polymodal")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "polymodal.cli.main"]
    return [*head, "bench", str(spec), "--out", str(out)]


def environment() -> dict[str, str]:
    # one thread, as the in-process reference (conftest): same threads => bit-identical results
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def results(bench_dir: Path) -> dict[str, tuple[dict, np.ndarray]]:
    """Metrics and prediction scores of every cell, by key."""
    with SQLiteStore(bench_dir / STORE_FILE) as store:
        cells = store.cells()
    out = {}
    for cell in cells:
        table = pd.read_parquet(bench_dir / cell.run_path / "predictions.parquet")
        out[cell.key] = (cell.metrics["metrics"], np.stack(table["scores"].to_numpy()))
    return out


def assert_same_results(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, (metrics, scores) in expected.items():
        assert got[key][0] == metrics, key
        np.testing.assert_array_equal(got[key][1], scores, err_msg=key)


def done_count(bench_dir: Path) -> int:
    path = bench_dir / STORE_FILE
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM cells WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory) -> tuple[Path, dict]:
    """An uninterrupted in-process run of the spec, on one thread like the subprocesses."""
    bench_dir = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()  # a module fixture runs before conftest's thread setting
    torch.set_num_threads(1)
    try:
        result = run_benchmark(load_spec(spec_file), bench_dir)
    finally:
        torch.set_num_threads(threads)
    assert [c.key for c in result.cells] == KEYS
    assert result.ran == KEYS
    return bench_dir, results(bench_dir)


def test_killed_benchmark_resumes_with_only_the_unfinished_cells(spec_file, reference, tmp_path):
    bench_dir = tmp_path / "bench"
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(
        bench_command(spec_file, bench_dir), stdout=log, stderr=subprocess.STDOUT, env=environment()
    )
    deadline = time.monotonic() + 240
    while done_count(bench_dir) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    delay = random.uniform(0.0, 1.5)  # a random point after the first cell finished
    time.sleep(delay)
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    log.close()
    assert done_count(bench_dir) >= 1, (tmp_path / "first.log").read_text()
    with SQLiteStore(bench_dir / STORE_FILE) as store:
        assert store.integrity() == "ok"
        before = {c.key: c for c in store.cells() if c.status == "done"}
    stamps = {
        key: (bench_dir / c.run_path / "metrics.json").stat().st_mtime_ns
        for key, c in before.items()
    }

    again = subprocess.run(
        bench_command(spec_file, bench_dir),
        capture_output=True,
        text=True,
        env=environment(),
        timeout=240,
    )
    context = f"killed={killed} after {delay:.2f} s; done before: {sorted(before)}\n{again.stdout}"
    assert again.returncode == 0, context + again.stderr
    assert f"{len(before)} of 4 cells finished earlier: kept" in again.stdout, context
    with SQLiteStore(bench_dir / STORE_FILE) as store:
        assert store.integrity() == "ok"
        after = {c.key: c for c in store.cells()}
    assert [after[k].status for k in KEYS] == ["done"] * 4, context
    for key, cell in after.items():
        assert cell.completions == 1, (key, context)
        if key in before:  # finished before the kill: not run again
            assert cell.starts == 1, (key, context)
            mtime = (bench_dir / cell.run_path / "metrics.json").stat().st_mtime_ns
            assert mtime == stamps[key], (key, context)
    assert_same_results(results(bench_dir), reference[1])
    assert (bench_dir / "report.md").is_file()
    assert (bench_dir / "report.html").is_file()


def test_two_processes_run_one_benchmark_together(spec_file, reference, tmp_path):
    bench_dir = tmp_path / "bench"
    logs = [(tmp_path / f"p{i}.log").open("w") for i in range(2)]
    processes = [
        subprocess.Popen(
            bench_command(spec_file, bench_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment(),
        )
        for log in logs
    ]
    for process, log in zip(processes, logs, strict=True):
        process.wait(timeout=300)
        log.close()
    outputs = [(tmp_path / f"p{i}.log").read_text() for i in range(2)]
    assert [p.returncode for p in processes] == [0, 0], outputs
    with SQLiteStore(bench_dir / STORE_FILE) as store:
        assert store.integrity() == "ok"
        cells = store.cells()
    assert [c.key for c in cells] == KEYS
    assert {(c.status, c.starts, c.completions) for c in cells} == {("done", 1, 1)}, outputs
    pids = {int(c.ran_by.split(":")[1]) for c in cells}
    assert pids <= {p.pid for p in processes}
    assert_same_results(results(bench_dir), reference[1])


def test_a_changed_config_reruns_only_its_cells(spec_file, reference, tmp_path, capsys):
    bench_dir = tmp_path / "bench"
    shutil.copytree(reference[0], bench_dir)
    raw = yaml.safe_load(SPEC)
    raw["models"]["concat"]["fusion"] = {"name": "concat", "init_std": 0.05}
    result = run_benchmark(parse_spec(raw), bench_dir)
    assert result.ran == KEYS[2:]
    starts = {c.key: c.starts for c in result.cells}
    assert starts == {**dict.fromkeys(KEYS[:2], 1), **dict.fromkeys(KEYS[2:], 2)}
    changed = results(bench_dir)
    for key in KEYS[:2]:
        np.testing.assert_array_equal(changed[key][1], reference[1][key][1])
    lines = capsys.readouterr().out.splitlines()
    assert "2 of 4 cells finished earlier: kept" in lines
    assert not any("another version of the code" in line for line in lines)  # same code
    assert any(line.startswith("[3/4] synthetic-redundant / concat / seed 0: ") for line in lines)


def test_kept_cells_of_another_code_version_are_named_not_rerun(reference, tmp_path, capsys):
    """A cell whose env.json records another polymodal version is kept, and the run says so."""
    bench_dir = tmp_path / "bench"
    shutil.copytree(reference[0], bench_dir)
    with SQLiteStore(bench_dir / STORE_FILE) as store:
        old_cell = store.cells()[1]
    env_file = bench_dir / old_cell.run_path / "env.json"
    env = json.loads(env_file.read_text())
    env["packages"]["polymodal"] = "0.0.1"
    env_file.write_text(json.dumps(env))
    result = run_benchmark(parse_spec(yaml.safe_load(SPEC)), bench_dir)
    assert result.ran == []
    lines = capsys.readouterr().out.splitlines()
    assert "4 of 4 cells finished earlier: kept" in lines
    (note,) = [line for line in lines if "another version of the code" in line]
    assert note.startswith(
        "1 kept cell was trained by another version of the code (1 by polymodal 0.0.1"
    )


def test_failed_cells_are_recorded_reported_and_retried(tmp_path):
    raw = yaml.safe_load(SPEC)
    raw["datasets"] = [{"name": "synthetic", "task": "redundant", "n": 5}]  # too small: fails
    raw["models"].pop("concat")
    raw["seeds"] = [0]
    spec = parse_spec(raw)  # the spec itself is valid; the data builder refuses n=5
    with pytest.raises(BenchmarkFailed, match="1 of 1 cells failed"):
        run_and_report(spec, tmp_path)  # the report is written, then the failure raised
    with SQLiteStore(tmp_path / STORE_FILE) as store:
        (cell,) = store.cells()
    assert cell.status == "failed"
    assert "data.n" in cell.error
    assert "failed" in (tmp_path / "report.md").read_text()
    written = (tmp_path / "report.md").stat().st_mtime_ns
    with pytest.raises(BenchmarkFailed):
        run_benchmark(spec, tmp_path)
    assert (tmp_path / "report.md").stat().st_mtime_ns == written  # no report of its own
    with SQLiteStore(tmp_path / STORE_FILE) as store:
        assert store.cells()[0].starts == 2  # retried by the next invocation
