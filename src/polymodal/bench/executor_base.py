"""What an executor of a benchmark gets, and what it must do (:class:`Executor`).

The runner (:func:`polymodal.bench.runner.run_benchmark`) plans the cells in the results store,
then hands a :class:`BenchJob` to an executor, which runs every unfinished cell somewhere: the
``local`` one (:class:`polymodal.bench.runner.LocalExecutor`) in this process, the ``ray`` one
(:class:`polymodal.bench.executors.ray_executor.RayExecutor`) as Ray tasks on a cluster.
Whatever runs a cell claims it in the store first, so a cell is run by one worker at a time and
a finished cell never again; a worker that dies leaves its claim to expire (see
:mod:`polymodal.bench.store_base`). Executors are named in
:data:`polymodal.bench.executors.EXECUTORS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from polymodal.bench.cells import Cell
    from polymodal.bench.spec import CellResources
    from polymodal.bench.store_base import ResultsStore


@dataclass(frozen=True)
class BenchJob:
    """The planned benchmark an executor runs.

    Attributes:
        cells: every cell of the spec, in benchmark order (the store says which still run).
        bench_dir: the benchmark directory, absolute (run directories: ``bench_dir/runs/...``).
        store_url: what :func:`polymodal.bench.store.store_for` needs to open the same store in
            another process (a database URL with its password), or None for the folder's own.
        lease_s: a running cell whose heartbeat is older than this is run again.
        heartbeat_s: seconds between a running cell's heartbeats.
        kept: cells finished before this run (for the display).
        resources: what one cell needs (CPUs, GPUs), for executors that schedule.
        kept_note: a line for the display about kept cells trained by other code
            (:mod:`polymodal.bench.provenance`), or None.
    """

    cells: list[Cell]
    bench_dir: Path
    store_url: str | None
    lease_s: float
    heartbeat_s: float
    kept: int
    resources: CellResources
    kept_note: str | None = None


def kept_lines(job: BenchJob) -> list[str]:
    """The display's opening lines about the cells finished before this run (maybe none)."""
    lines = [f"{job.kept} of {len(job.cells)} cells finished earlier: kept"] if job.kept else []
    return lines + ([job.kept_note] if job.kept_note else [])


class Executor(Protocol):
    """Runs the unfinished cells of a :class:`BenchJob`; returns the keys of the cells it ran
    (finished or failed), once the store has no cell left pending or running."""

    name: str

    def run(self, job: BenchJob, store: ResultsStore, console: Console | None) -> list[str]: ...
