"""Results store contract, for every backend (SQLite, PostgreSQL): planning, atomic claims, stale
claims, results, and several processes at once; then what is particular to SQLite."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from polymodal.bench.store import (
    STORE_FILE,
    PlannedCell,
    SQLiteStore,
    StoreError,
    connect_store,
    new_owner,
    open_store,
    owner_alive,
)

PAYLOAD = {
    "task": "multiclass",
    "primary_metric": "accuracy",
    "higher_is_better": True,
    "metrics": {"accuracy": 0.75, "f1_macro": 0.7},
}


def planned(n: int, *, hash_of=lambda i: f"h{i}") -> list[PlannedCell]:
    return [
        PlannedCell(
            key=f"d/m{i}/0",
            dataset="d",
            model=f"m{i}",
            seed=0,
            position=i,
            config_hash=hash_of(i),
            config={"i": i},
            run_path=f"runs/m{i}",
        )
        for i in range(n)
    ]


@pytest.fixture
def store(store_location):
    with connect_store(store_location) as s:
        yield s


def dead_owner() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # reaped: the pid no longer exists
    return f"{socket.gethostname()}:{process.pid}:deadbeef"


def test_sqlite_database_is_wal_and_sound(tmp_path):
    store = SQLiteStore(tmp_path / STORE_FILE)
    mode = sqlite3.connect(tmp_path / STORE_FILE).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert store.integrity() == "ok"
    with pytest.raises(StoreError, match="not a benchmark directory"):
        open_store(tmp_path / "elsewhere")


def test_cells_are_claimed_in_order_once_and_completed(store):
    assert store.sync(planned(3))["added"] == 3
    owner = new_owner()
    first = store.claim(owner)
    assert first is not None
    assert (first.key, first.status, first.owner, first.ran_by, first.starts) == (
        "d/m0/0",
        "running",
        owner,
        owner,
        1,
    )
    other = new_owner()
    second = store.claim(other)
    assert second.key == "d/m1/0"  # the first is held by a live owner
    assert store.complete(first.key, owner, PAYLOAD)
    assert not store.complete(second.key, owner, PAYLOAD)  # not owner's claim: nothing stored
    assert store.counts() == {"pending": 1, "running": 1, "done": 1, "failed": 0}
    done = store.cells(status="done")[0]
    assert (done.primary_metric, done.primary_value, done.higher_is_better) == (
        "accuracy",
        0.75,
        True,
    )
    assert done.metrics == PAYLOAD
    assert done.owner is None
    assert done.ran_by == owner
    assert done.completions == 1
    assert done.finished >= done.started
    assert store.claim(owner).key == "d/m2/0"
    assert store.claim(owner) is None  # m1 is running under a live owner, m0 done


def test_a_dead_owners_cell_is_claimed_again(store):
    store.sync(planned(1))
    ghost = dead_owner()
    assert owner_alive(ghost) is False
    assert owner_alive(new_owner()) is True
    assert owner_alive("other-host:1:x") is None
    assert store.claim(ghost).starts == 1
    again = store.claim(new_owner())
    assert again.key == "d/m0/0"
    assert again.starts == 2
    assert not store.heartbeat(again.key, ghost)  # the ghost lost its claim


def test_a_claim_without_heartbeat_expires_after_the_lease(store):
    store.sync(planned(1))
    remote = "another-host:123:abc"  # liveness unknown: only the heartbeat counts
    store.claim(remote, lease_s=60)
    assert store.claim(new_owner(), lease_s=60) is None
    assert store.heartbeat("d/m0/0", remote)
    time.sleep(0.05)
    taken = store.claim(new_owner(), lease_s=0.01)
    assert taken is not None
    assert taken.starts == 2


def test_sync_resets_changed_failed_and_lost_cells_and_rerun(store, tmp_path):
    store.sync(planned(4))
    owner = new_owner()
    for _ in range(4):
        record = store.claim(owner)
        if record.key == "d/m3/0":
            store.fail(record.key, owner, "Traceback ...\nValueError: boom")
        else:
            store.complete(record.key, owner, PAYLOAD)
    for i in (0, 1):  # m0 and m1 keep their results on disk, m2 lost them
        (tmp_path / f"runs/m{i}").mkdir(parents=True)
        (tmp_path / f"runs/m{i}/metrics.json").write_text("{}")
    failed = store.cells(status="failed")[0]
    assert failed.error.endswith("ValueError: boom")
    changed = planned(4, hash_of=lambda i: "new" if i == 0 else f"h{i}")
    counts = store.sync(changed, bench_dir=tmp_path)
    assert counts == {"added": 0, "changed": 1, "retried": 2, "reset": 0, "kept": 1}
    status = {c.key: c for c in store.cells()}
    assert status["d/m0/0"].status == "pending"
    assert status["d/m0/0"].metrics is None
    assert status["d/m0/0"].config_hash == "new"
    assert status["d/m1/0"].status == "done"
    assert status["d/m2/0"].status == "pending"
    assert status["d/m3/0"].status == "pending"
    assert status["d/m3/0"].error is None
    assert store.sync(changed, rerun=True)["reset"] == 1  # m1 was the only one done
    assert store.counts()["pending"] == 4


def test_cells_left_out_of_the_plan_are_kept_but_not_run(store):
    store.sync(planned(3))
    store.sync(planned(2))
    assert [c.key for c in store.cells()] == ["d/m0/0", "d/m1/0"]
    assert len(store.cells(planned_only=False)) == 3
    owner = new_owner()
    keys = [store.claim(owner).key, store.claim(owner).key]
    assert keys == ["d/m0/0", "d/m1/0"]
    assert store.claim(owner) is None


CLAIMER = """
import json, sys, time
from pathlib import Path
from polymodal.bench.store import claim_next, connect_store, new_owner
location, go = sys.argv[1], Path(sys.argv[2])
store = connect_store(location)
owner = new_owner()
while not go.exists():
    time.sleep(0.005)
got = []
while (record := claim_next(store, owner, poll_s=0.01)) is not None:
    got.append(record.key)
    time.sleep(0.002)
    assert store.complete(record.key, owner, {"task": "multiclass", "metrics": {}})
print(json.dumps(got))
"""


def test_four_processes_claiming_together_take_every_cell_exactly_once(store_location, tmp_path):
    with connect_store(store_location) as store:
        store.sync(planned(40))
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, store_location, str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(0.3)
    go.touch()
    claimed = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        claimed.append(json.loads(out))
    every = [key for keys in claimed for key in keys]
    assert sorted(every) == sorted(c.key for c in planned(40))  # no cell twice, none missed
    with connect_store(store_location) as store:
        assert store.integrity() == "ok"
        cells = store.cells()
        assert {(c.status, c.starts, c.completions) for c in cells} == {("done", 1, 1)}
        assert len({c.ran_by for c in cells}) == sum(1 for keys in claimed if keys)


def test_store_of_a_newer_schema_is_refused(store_location):
    with connect_store(store_location) as store:
        store.set_meta("schema_version", "99")
    with pytest.raises(StoreError, match="schema 99"):
        connect_store(store_location)
