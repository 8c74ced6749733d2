"""The PostgreSQL store beyond the shared contract: a SIGKILLed worker's cell goes to the others
after its lease (both backends), planning from several processes at once, finding the store from
the benchmark folder, clear errors, and `polymodal bench --store postgresql://...` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from polymodal.bench.cells import load_spec, parse_spec
from polymodal.bench.leaderboard import build_leaderboard
from polymodal.bench.runner import BenchmarkFailed, run_benchmark
from polymodal.bench.store import (
    POINTER_FILE,
    STORE_FILE,
    PlannedCell,
    StoreError,
    connect_store,
    open_store,
    store_for,
)
from polymodal.bench.store_postgres import PostgresStore, redact

PAYLOAD = {"task": "multiclass", "primary_metric": "accuracy", "metrics": {"accuracy": 0.5}}


def planned(n: int) -> list[PlannedCell]:
    return [
        PlannedCell(f"d/m{i}/0", "d", f"m{i}", 0, i, f"h{i}", {"i": i}, f"runs/m{i}")
        for i in range(n)
    ]


WORKER = """
import json, sys, time
from pathlib import Path
from polymodal.bench.store import claim_next, connect_store
location, name, lease, hold = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
store = connect_store(location)
owner = f"machine-{name}:1:{name}"  # each on a machine of its own: only the lease tells death
if name == "victim":
    record = store.claim(owner, lease_s=lease)
    hold.write_text(json.dumps([record.key, record.started]))
    time.sleep(600)  # killed here, holding its cell
got = []
while (record := claim_next(store, owner, lease_s=lease, poll_s=0.05)) is not None:
    got.append(record.key)
    time.sleep(0.01)
    assert store.complete(record.key, owner, {"task": "multiclass", "metrics": {}})
print(json.dumps(got))
"""


def worker(location: str, name: str, lease: float, hold: Path) -> subprocess.Popen:
    args = [sys.executable, "-c", WORKER, location, name, str(lease), str(hold)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def test_a_killed_workers_cell_goes_to_the_others_after_its_lease(store_location, tmp_path):
    lease = 1.5
    with connect_store(store_location) as store:
        store.sync(planned(12))
    hold = tmp_path / "hold.json"
    victim = worker(store_location, "victim", lease, hold)
    deadline = time.monotonic() + 60
    while not hold.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    key, claimed_at = json.loads(hold.read_text())
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    survivors = [worker(store_location, f"w{i}", lease, hold) for i in range(3)]
    got = []
    for process in survivors:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        got += json.loads(out)
    assert sorted(got) == sorted(c.key for c in planned(12))  # each cell finished once
    with connect_store(store_location) as store:
        cells = {c.key: c for c in store.cells()}
        assert store.integrity() == "ok"
    taken = cells.pop(key)
    assert (taken.status, taken.starts, taken.completions) == ("done", 2, 1)
    assert taken.ran_by != "machine-victim:1:victim"
    assert taken.started - claimed_at >= lease  # not before the lease expired
    assert {(c.status, c.starts, c.completions) for c in cells.values()} == {("done", 1, 1)}


PLANNER = """
import sys
from polymodal.bench.store import PlannedCell, connect_store
store = connect_store(sys.argv[1])
cells = [PlannedCell(f"d/m{i}/0", "d", f"m{i}", 0, i, f"h{i}", {"i": i}, f"runs/m{i}")
         for i in range(20)]
print(store.sync(cells)["added"])
"""


def test_processes_planning_one_new_database_at_once_plan_each_cell_once(pg_url):
    processes = [
        subprocess.Popen([sys.executable, "-c", PLANNER, pg_url], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    added = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        added.append(int(out))
    assert sorted(added) == [0, 0, 0, 20]  # the first planned everything, the others nothing
    with connect_store(pg_url) as store:
        assert store.counts() == {"pending": 20, "running": 0, "done": 0, "failed": 0}


def test_the_benchmark_folder_records_the_database_without_its_password(pg_url, tmp_path):
    secret = pg_url.replace("polymodal@", "polymodal:s3cret@")  # trust: any password passes
    with store_for(tmp_path, secret) as store:
        assert isinstance(store, PostgresStore)
        store.sync(planned(2))
    assert (tmp_path / POINTER_FILE).read_text().strip() == pg_url
    assert not (tmp_path / STORE_FILE).exists()
    with open_store(tmp_path) as store:  # as report and leaderboard open it
        assert [c.key for c in store.cells()] == ["d/m0/0", "d/m1/0"]
    with pytest.raises(StoreError, match="another --out"):
        store_for(tmp_path, pg_url.rsplit("/", 1)[0] + "/other")
    sqlite_dir = tmp_path / "sqlite"
    store_for(sqlite_dir).close()
    with pytest.raises(StoreError, match=r"results\.sqlite"):
        store_for(sqlite_dir, pg_url)


def test_urls_errors_and_redaction(monkeypatch):
    assert redact("postgresql://u:pw@h:5/db?x=1") == "postgresql://u@h:5/db?x=1"
    assert redact("postgresql://h/db") == "postgresql://h/db"
    with pytest.raises(StoreError, match="unknown store 'mysql'") as error:
        connect_store("mysql://u:pw@h/db")
    assert "pw" not in str(error.value)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    with pytest.raises(StoreError, match=r"pip install 'polymodal\[postgres\]'"):
        connect_store("postgresql://127.0.0.1:1/db")


def test_an_unreachable_database_is_a_clear_error(pg_cluster):
    with pytest.raises(StoreError, match=r"createdb NAME"):
        connect_store(pg_cluster.url("no_such_database"))


SPEC = """
name: pg-tiny
datasets:
  - {name: synthetic, task: redundant, n: 200}
models:
  image-only:
    encoders: {image: {name: cnn, out_dim: 8, channels: 4, num_blocks: 2}}
seeds: [0, 1]
train: {max_epochs: 1, batch_size: 32, lr: 0.01}
eval: {resamples: 50}
leaderboard: {resamples: 50}
"""


def test_spec_store_holds_a_failed_cell_in_the_database(pg_url, tmp_path):
    raw = yaml.safe_load(SPEC)
    raw["datasets"] = [{"name": "synthetic", "task": "redundant", "n": 5}]  # too small: fails
    raw["seeds"] = [0]
    raw["store"] = pg_url
    with pytest.raises(BenchmarkFailed, match="1 of 1 cells failed"):
        run_benchmark(parse_spec(raw), tmp_path)
    with connect_store(pg_url) as store:
        (cell,) = store.cells()
        assert "store" not in json.loads(store.get_meta("spec"))
    assert (cell.status, cell.starts) == ("failed", 1)
    assert "data.n" in cell.error
    assert (tmp_path / POINTER_FILE).read_text().strip() == pg_url


def test_polymodal_bench_with_a_postgresql_store(pg_url, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "bench"
    script = Path(sys.executable).with_name("polymodal")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "polymodal.cli.main"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [*head, "bench", str(spec), "--out", str(out), "--store", pg_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (out / STORE_FILE).exists()
    assert (out / "report.md").is_file()
    with connect_store(pg_url) as store:
        cells = store.cells()
    assert [(c.key, c.status, c.starts) for c in cells] == [
        ("synthetic-redundant/image-only/0", "done", 1),
        ("synthetic-redundant/image-only/1", "done", 1),
    ]
    reference = run_benchmark(load_spec(spec), tmp_path / "sqlite")  # same spec, SQLite store
    assert [c.metrics["metrics"] for c in cells] == [c.metrics["metrics"] for c in reference.cells]
    for cell in cells:
        assert (out / cell.run_path / "predictions.parquet").is_file()
    board = build_leaderboard(out)  # found through results.store
    expected = build_leaderboard(tmp_path / "sqlite")
    ranked = [(r.model, r.n_seeds, r.mean, r.ci_low, r.ci_high) for r in board.rows]
    assert ranked == [(r.model, r.n_seeds, r.mean, r.ci_low, r.ci_high) for r in expected.rows]
