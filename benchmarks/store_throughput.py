"""Benchmark: cells claimed and finished per second by 4 workers, PostgreSQL against SQLite.

Each backend gets a fresh store planned with ``--cells`` tiny cells (no training: the store's
own cost). Four worker processes connect, wait for a common start signal, then loop
``claim_next`` -> ``complete`` (with a small ``metrics.json`` payload) until no cell is left,
as ``polymodal bench`` workers do. Throughput is cells / wall time from the start signal to the
last worker's end, best of ``--repeats``; every cell must end ``done`` with one start and one
completion. PostgreSQL runs on a throwaway local cluster (:mod:`polymodal.bench.store_cluster`,
fsync off; SQLite keeps its defaults: WAL, synchronous NORMAL), so the ratio compares the
claim protocols (``BEGIN IMMEDIATE`` serialising every writer against row locks with
``SKIP LOCKED``) on one machine, not a networked server.

Run::

    .venv/bin/python benchmarks/store_throughput.py [--cells 1000] [--workers 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
import uuid
from pathlib import Path

from polymodal.bench.store import STORE_FILE, PlannedCell, claim_next, connect_store, new_owner
from polymodal.bench.store_cluster import TemporaryCluster

PAYLOAD = {
    "task": "multiclass",
    "primary_metric": "accuracy",
    "higher_is_better": True,
    "metrics": {"accuracy": 0.75, "f1_macro": 0.7, "auroc": 0.8},
}


def planned(n: int) -> list[PlannedCell]:
    return [
        PlannedCell(f"d/m{i}/0", "d", f"m{i}", 0, i, f"h{i}", {"i": i}, f"runs/m{i}")
        for i in range(n)
    ]


def work(location: str, go: mp.Event, done: mp.Queue) -> None:
    """One worker: claim and finish cells until none is left; reports how many."""
    store = connect_store(location)
    owner, count = new_owner(), 0
    go.wait()
    while (record := claim_next(store, owner, poll_s=0.01)) is not None:
        if not store.complete(record.key, owner, PAYLOAD):
            raise RuntimeError(f"lost the claim on {record.key}")
        count += 1
    store.close()
    done.put((count, time.perf_counter()))


def measure(location: str, cells: int, workers: int) -> float:
    """Cells per second of ``workers`` processes on a new store at ``location``."""
    with connect_store(location) as store:
        store.sync(planned(cells))
    context = mp.get_context("spawn")
    go, done = context.Event(), context.Queue()
    processes = [context.Process(target=work, args=(location, go, done)) for _ in range(workers)]
    for process in processes:
        process.start()
    time.sleep(1.0)  # every worker connected and waiting
    start = time.perf_counter()
    go.set()
    results = [done.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    if sum(r[0] for r in results) != cells or any(p.exitcode for p in processes):
        raise RuntimeError(f"workers finished {results} of {cells} cells")
    with connect_store(location) as store:
        states = {(c.status, c.starts, c.completions) for c in store.cells()}
    if states != {("done", 1, 1)}:
        raise RuntimeError(f"some cell ran twice or not at all: {states}")
    return cells / (max(r[1] for r in results) - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    best = {"sqlite": 0.0, "postgresql": 0.0}
    with tempfile.TemporaryDirectory() as folder, TemporaryCluster() as cluster:
        for repeat in range(args.repeats):
            sqlite = str(Path(folder) / f"{repeat}" / STORE_FILE)
            postgres = cluster.create_database(f"b_{uuid.uuid4().hex[:12]}")
            best["sqlite"] = max(best["sqlite"], measure(sqlite, args.cells, args.workers))
            best["postgresql"] = max(
                best["postgresql"], measure(postgres, args.cells, args.workers)
            )
    print(f"{args.cells} cells, {args.workers} workers, best of {args.repeats}")
    print(f"{'store':<12}{'cells/s':>10}")
    for name, rate in best.items():
        print(f"{name:<12}{rate:>10.1f}")
    print(f"ratio postgresql / sqlite: {best['postgresql'] / best['sqlite']:.2f}")


if __name__ == "__main__":
    main()
