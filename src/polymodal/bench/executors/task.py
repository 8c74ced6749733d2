"""The body of one remote cell (a Ray task, or any worker process of a scheduler): claim the
next cell that needs running in the results store, run it with a heartbeat on the claim, store
its outcome. No Ray import: the scheduler calls :func:`run_next_cell` with plain arguments.

A worker killed mid-cell leaves the claim behind: the next claim takes the cell over at once
when the dead worker was on the same host, else after its lease (``lease_s``); the cell then
continues from its last epoch's checkpoint (:mod:`polymodal.train.resume`) where the run
directory is shared. A finished cell is never claimed again, so a retried task that finds no
cell left returns None.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from polymodal.bench.cells import Cell
from polymodal.bench.runner import Heartbeat, error_summary, run_cell
from polymodal.bench.store import ResultsStore, StoreError, new_owner, store_for
from polymodal.train.resume import mark_failed


@dataclass(frozen=True)
class WorkerJob:
    """What every remote cell gets (shipped once to the cluster).

    Attributes:
        cells: the spec's cells by key.
        bench_dir: the benchmark directory (absolute; every worker must reach it).
        store_url: the store to open (see :class:`polymodal.bench.executor_base.BenchJob`).
        lease_s: lease of a claim.
        heartbeat_s: seconds between heartbeats.
        cwd: the driver's working directory, for relative data paths in cell configs (used
            when it exists on the worker).
    """

    cells: dict[str, Cell]
    bench_dir: Path
    store_url: str | None
    lease_s: float
    heartbeat_s: float
    cwd: str


@dataclass(frozen=True)
class CellOutcome:
    """What a remote cell reports back: its key, ``done``/``failed``/``lost`` (finished, but
    another worker had taken the claim over), a one-line message, seconds and the host."""

    key: str
    status: str
    message: str
    seconds: float
    host: str
    position: int


def run_next_cell(job: WorkerJob) -> CellOutcome | None:
    """Claim and run the next cell of ``job``; None when no cell is free to claim."""
    if os.path.isdir(job.cwd):
        os.chdir(job.cwd)
    store = store_for(job.bench_dir, job.store_url)
    try:
        owner = new_owner()
        record = store.claim(owner, lease_s=job.lease_s)
        if record is None:
            return None
        cell = job.cells.get(record.key)
        if cell is None:
            store.release(record.key, owner)
            raise StoreError(
                f"the store plans cell {record.key!r}, which this spec does not have",
                where=store.location,
                fix="run one spec per benchmark directory (another --out for another)",
            )
        return _run(job, store, owner, cell, job.bench_dir / record.run_path)
    finally:
        store.close()


def _run(job: WorkerJob, store: ResultsStore, owner: str, cell: Cell, run_dir: Path) -> CellOutcome:
    """Run the claimed ``cell`` into ``run_dir`` and store its outcome."""
    start = time.perf_counter()
    status, message = "done", ""
    with Heartbeat(store, cell.key, owner, job.heartbeat_s) as beat:
        try:
            payload = run_cell(cell, run_dir)
        except Exception as exc:  # a failed cell is recorded; the benchmark goes on
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            store.fail(cell.key, owner, f"{type(exc).__name__}: {exc}\n\n{trace}")
            mark_failed(run_dir, trace)
            status, message = "failed", f"FAILED: {error_summary(f'{type(exc).__name__}: {exc}')}"
    seconds = time.perf_counter() - start
    if status == "done":
        if beat.lost or not store.complete(cell.key, owner, payload):
            status, message = "lost", "finished, but another worker had taken the cell over"
        else:
            primary = payload.get("primary_metric")
            value = payload.get("metrics", {}).get(primary)
            shown = f"{primary} {value:.4f}" if isinstance(value, (int, float)) else "done"
            message = f"{shown} ({seconds:.1f} s)"
    return CellOutcome(cell.key, status, message, seconds, socket.gethostname(), cell.position)
