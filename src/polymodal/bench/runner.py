"""Run a benchmark cell by cell into a benchmark directory, resumably.

Layout of ``BENCH_DIR``: ``results.sqlite`` (the results store, see :mod:`polymodal.bench.store`;
or ``results.store``, the URL of a PostgreSQL store shared by several machines),
``runs/<cell>/`` (one run directory per cell), ``report.md`` and ``report.html`` (written after
the run by :func:`polymodal.bench.report.run_and_report`, which is what ``polymodal bench`` calls).

The runner plans the spec's cells in the store, then repeatedly *claims* a cell, trains and
evaluates it into a clean run directory, and stores its results, keeping a heartbeat on its
claim from a background thread. So:

- a finished cell is not run again (unless ``rerun``), and a cell whose config changed is;
- a benchmark killed at any point resumes with the unfinished cells; a cell killed
  mid-training continues from its last epoch's checkpoint (:mod:`polymodal.train.resume`),
  bit-identical to an uninterrupted cell; a failed or changed cell starts again from scratch;
- several processes can run one benchmark together: each cell is claimed by exactly one.

A cell that raises is marked ``failed`` (its error is stored) and the others go on; at the end
:class:`BenchmarkFailed` names the failed cells.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymodal.bench.cells import Cell, expand_cells
from polymodal.bench.executor_base import BenchJob, Executor, kept_lines
from polymodal.bench.provenance import current_code, kept_from_other_code, other_code_note
from polymodal.bench.spec import BenchSpec
from polymodal.bench.store import (
    DEFAULT_LEASE_S,
    CellRecord,
    PlannedCell,
    ResultsStore,
    StoreError,
    claim_next,
    new_owner,
    store_for,
)
from polymodal.config import config_to_dict
from polymodal.errors import PolymodalError
from polymodal.rundir.layout import METRICS_FILE
from polymodal.train.resume import mark_failed

if TYPE_CHECKING:
    from rich.console import Console

    from polymodal.bench.progress import BenchProgress

RUNS_DIR = "runs"


class BenchmarkFailed(PolymodalError):
    """Some cells of a benchmark raised; the others finished."""


@dataclass
class BenchResult:
    """What :func:`run_benchmark` did.

    Attributes:
        bench_dir: the benchmark directory.
        cells: every planned cell of the store after the run, in benchmark order.
        ran: keys of the cells this process ran (finished or failed).
        leaderboard_markdown: the leaderboard, as Markdown (filled in when a report is written).
        report_paths: ``{"markdown": ..., "html": ...}`` (empty when no report was written).
    """

    bench_dir: Path
    cells: list[CellRecord] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    leaderboard_markdown: str = ""
    report_paths: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[CellRecord]:
        """Cells whose last attempt failed."""
        return [c for c in self.cells if c.status == "failed"]


def planned_cell(cell: Cell) -> PlannedCell:
    """The store's view of a spec cell."""
    return PlannedCell(
        key=cell.key,
        dataset=cell.dataset,
        model=cell.model,
        seed=cell.seed,
        position=cell.position,
        config_hash=cell.config_hash,
        config={"experiment": config_to_dict(cell.config), "evaluation": cell.options},
        run_path=f"{RUNS_DIR}/{cell.run_name}",
    )


class Heartbeat:
    """Refreshes a claim's heartbeat every ``every`` seconds from a daemon thread.

    The thread has its own connection to the store (``store.reopen()``). ``lost`` becomes True
    if another process took the claim over (this one was thought dead).
    """

    def __init__(self, store: ResultsStore, key: str, owner: str, every: float) -> None:
        self.store, self.key, self.owner, self.every = store, key, owner, every
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {key}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        store = self.store.reopen()
        try:
            while not self._stop.wait(self.every):
                if not store.heartbeat(self.key, self.owner):
                    self.lost = True
                    return
        finally:
            store.close()


def error_summary(error: str, limit: int = 200) -> str:
    """The message of a stored cell error (before its traceback), on one line."""
    message = " ".join(error.split("\n\n", 1)[0].split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _summary(payload: dict[str, Any]) -> str:
    primary = payload.get("primary_metric")
    value = payload.get("metrics", {}).get(primary)
    return f"{primary} {value:.4f}" if isinstance(value, (int, float)) else "done"


def run_cell(cell: Cell, run_dir: Path, display: BenchProgress | None = None) -> dict[str, Any]:
    """Train and evaluate one cell into ``run_dir``; returns its ``metrics.json``.

    An interrupted training of the same config in ``run_dir`` is resumed, a finished one kept
    (only evaluated again); anything else there is removed first
    (:func:`polymodal.train.resume.train_or_resume`), as is an evaluated cell run again.
    """
    from polymodal.evaluate.run import EvaluationOptions, evaluate_run
    from polymodal.train.resume import train_or_resume

    if (run_dir / METRICS_FILE).is_file():
        shutil.rmtree(run_dir)  # a finished cell run again (--rerun) starts from scratch
    callbacks = []
    if display is not None:
        from polymodal.bench.progress import TrainingProgress

        callbacks.append(TrainingProgress(display))
    train_or_resume(cell.config, run_dir, callbacks=callbacks)
    options = EvaluationOptions(**cell.options, seed=cell.seed)
    evaluate_run(run_dir, options=options)
    return json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))


def run_benchmark(
    spec: BenchSpec,
    bench_dir: str | Path,
    *,
    rerun: bool = False,
    lease_s: float = DEFAULT_LEASE_S,
    heartbeat_s: float | None = None,
    console: Console | None = None,
    store: str | None = None,
    executor: Executor | None = None,
) -> BenchResult:
    """Run every unfinished cell of ``spec`` into ``bench_dir`` (no report: see
    :func:`polymodal.bench.report.run_and_report`).

    Args:
        spec: the benchmark.
        bench_dir: the benchmark directory (created if missing).
        rerun: run finished cells again.
        lease_s: a ``running`` cell whose heartbeat is older than this is re-run.
        heartbeat_s: seconds between heartbeats (default ``lease_s / 6``).
        console: a :class:`rich.console.Console` for the progress display (default: stdout).
        store: the results store's URL (``postgresql://...``); default: the spec's ``store``,
            else the store ``bench_dir`` already uses, else ``bench_dir/results.sqlite``.
        executor: what runs the cells (default :class:`LocalExecutor`: this process; see
            :mod:`polymodal.bench.executors`).

    Raises:
        ConfigError: an invalid cell config.
        BenchmarkFailed: when some cells failed (the others ran).
    """
    bench_dir = Path(bench_dir)
    cells = expand_cells(spec, source=f"benchmark {spec.name}")
    bench_dir.mkdir(parents=True, exist_ok=True)
    results = store_for(bench_dir, store or spec.store)
    result = BenchResult(bench_dir)
    try:
        results.set_meta("spec", spec.model_dump_json(exclude={"store", "resources"}))
        counts = results.sync(
            [planned_cell(c) for c in cells], rerun=rerun, lease_s=lease_s, bench_dir=bench_dir
        )
        every = heartbeat_s if heartbeat_s is not None else lease_s / 6.0
        note = _kept_code_note(results, bench_dir)
        job = BenchJob(cells, bench_dir.resolve(), store or spec.store, lease_s, every,
                       counts["kept"], spec.resources, note)  # fmt: skip
        result.ran = (executor or LocalExecutor()).run(job, results, console)
        result.cells = results.cells()
        if spec.train.loggers:  # one tracker run per finished cell
            from polymodal.bench.tracking import log_results

            log_results(spec, bench_dir, result.cells)
    finally:
        results.close()
    raise_if_failed(result)
    return result


class LocalExecutor:
    """The ``local`` executor: this process claims and runs cells one after the other (other
    processes, on this machine or others, may share the benchmark through the store)."""

    name = "local"

    def run(self, job: BenchJob, store: ResultsStore, console: Console | None) -> list[str]:
        """Run cells until the store has none left; the keys this process ran."""
        loop = _Loop(store, job.bench_dir, job.lease_s, job.heartbeat_s)
        return _run_cells(loop, job, console)


@dataclass(frozen=True)
class _Loop:
    """What the claim loop of one process works with."""

    store: ResultsStore
    bench_dir: Path
    lease_s: float
    every: float
    owner: str = field(default_factory=new_owner)


def _kept_code_note(results: ResultsStore, bench_dir: Path) -> str | None:
    """The line saying which kept (finished) cells were trained by other code, if any."""
    now = current_code()
    done = results.cells(status="done")
    other = kept_from_other_code(((c.key, bench_dir / c.run_path) for c in done), now)
    return other_code_note(other, now)


def _run_cells(loop: _Loop, job: BenchJob, console: Console | None) -> list[str]:
    """Claim and run cells until none is left; returns the keys this process ran.

    While every remaining cell runs in another process, this one waits (polling): a cell whose
    process died is taken over once its lease expires, and the benchmark ends complete.
    """
    from polymodal.bench.progress import BenchProgress

    cells = job.cells
    by_key = {cell.key: cell for cell in cells}
    store, owner, ran = loop.store, loop.owner, []
    poll = min(loop.every, 2.0)
    with BenchProgress(len(cells), console=console) as display:
        for line in kept_lines(job):
            display.note(line)
        while (record := claim_next(store, owner, lease_s=loop.lease_s, poll_s=poll)) is not None:
            cell = by_key.get(record.key)
            if cell is None:
                store.release(record.key, owner)
                raise StoreError(
                    f"the store plans cell {record.key!r}, which this spec does not have",
                    where=store.location,
                    fix="run one spec per benchmark directory (another --out for another)",
                )
            ran.append(record.key)
            _run_claimed(loop, cell, record, display)
    return ran


def raise_if_failed(result: BenchResult) -> None:
    """Raise :class:`BenchmarkFailed` naming the failed cells of ``result``, grouped by error."""
    failed = result.failed
    if not failed:
        return
    by_error: dict[str, list[str]] = {}
    for c in failed:
        by_error.setdefault(error_summary(c.error or ""), []).append(c.key)
    lines = "\n".join(f"  - {', '.join(keys)}: {error}" for error, keys in by_error.items())
    raise BenchmarkFailed(
        f"{len(failed)} of {len(result.cells)} cells failed:\n{lines}",
        where=str(result.bench_dir),
        fix="fix the cause and run `polymodal bench` again: only unfinished cells run",
    )


def _run_claimed(loop: _Loop, cell: Cell, record: CellRecord, display: BenchProgress) -> None:
    """Run a claimed cell and store its outcome (done, failed, or released on Ctrl-C)."""
    store, owner = loop.store, loop.owner
    label = f"{cell.dataset} / {cell.model} / seed {cell.seed}"
    number = cell.position + 1
    display.cell_started(label, number, store.counts()["done"])
    start = time.perf_counter()
    with Heartbeat(store, cell.key, owner, loop.every) as beat:
        try:
            payload = run_cell(cell, loop.bench_dir / record.run_path, display)
        except KeyboardInterrupt:
            store.release(cell.key, owner)
            raise
        except Exception as exc:  # a failed cell is recorded; the benchmark goes on
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            store.fail(cell.key, owner, f"{type(exc).__name__}: {exc}\n\n{trace}")
            mark_failed(loop.bench_dir / record.run_path, trace)  # a retry starts from scratch
            message = f"FAILED: {error_summary(f'{type(exc).__name__}: {exc}')}"
            display.cell_finished(label, number, message, store.counts()["done"])
            return
    seconds = time.perf_counter() - start
    if beat.lost or not store.complete(cell.key, owner, payload):
        message = "finished, but another process had taken the cell over: its results count"
    else:
        message = f"{_summary(payload)} ({seconds:.1f} s)"
    display.cell_finished(label, number, message, store.counts()["done"])
