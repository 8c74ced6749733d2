"""The ``ray`` executor: every cell of a benchmark is a Ray task on an existing Ray cluster.

Start the cluster first (``ray start --head`` on one machine, ``ray start --address HEAD:6379``
on the others; or a Kubernetes-hosted Ray cluster), install polymodal on every node, give the
benchmark a store and a benchmark directory every node reaches (``--store postgresql://...``,
``--out`` on a shared file system), then::

    polymodal bench SPEC --executor ray --address HEAD:6379 --store postgresql://... --out DIR

The driver (this process) plans the cells in the store, then submits one task per cell still
to run, each asking for the spec's ``resources`` (``cpus``, ``gpus``). A task claims the next
cell in the store and runs it (:func:`polymodal.bench.executors.task.run_next_cell`), so which
cell a task runs is the store's decision: each cell is claimed by one worker at a time, and a
finished cell never runs again. A task whose worker or node dies is retried by Ray
(``max_retries``); the retry, or a later round of tasks, takes the dead worker's cell over once
its claim is free (at once on the same host, else after ``--lease`` seconds) and resumes it
from its last epoch's checkpoint. The driver submits rounds of tasks until the store has no
cell pending or running.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polymodal.bench.executor_base import BenchJob, kept_lines
from polymodal.bench.executors.task import CellOutcome, WorkerJob, run_next_cell
from polymodal.errors import PolymodalError

if TYPE_CHECKING:
    from rich.console import Console

    from polymodal.bench.store_base import ResultsStore


def import_ray() -> Any:
    """The ``ray`` module, or a clear error when the extra is not installed."""
    try:
        import ray
    except ImportError as exc:
        raise PolymodalError(
            "the ray executor needs Ray, which is not installed",
            where="--executor ray",
            fix="pip install 'polymodal[ray]' (on the driver and on every node of the cluster),"
            " or run with --executor local",
        ) from exc
    return ray


@dataclass
class RayExecutor:
    """Runs cells as Ray tasks (see the module docstring).

    Attributes:
        address: the cluster (``HOST:PORT``, ``ray://HOST:10001``, ``auto``); default
            ``$RAY_ADDRESS``, else ``auto`` (a cluster started on this machine).
        max_retries: Ray's retries of a task whose worker died.
        poll_s: seconds between rounds while the remaining cells run elsewhere.
    """

    address: str | None = None
    max_retries: int = 3
    poll_s: float = 2.0
    name: str = "ray"

    def run(self, job: BenchJob, store: ResultsStore, console: Console | None) -> list[str]:
        """Submit rounds of cell tasks until the store has no cell pending or running."""
        from polymodal.bench.progress import BenchProgress

        ray = import_ray()
        started = self._connect(ray)
        try:
            remote = ray.remote(run_next_cell).options(
                num_cpus=job.resources.cpus,
                num_gpus=job.resources.gpus,
                max_retries=self.max_retries,
                retry_exceptions=False,
                name="polymodal-cell",
            )
            shared = ray.put(_worker_job(job))
            with BenchProgress(len(job.cells), console=console) as display:
                for line in kept_lines(job):
                    display.note(line)
                return self._rounds(ray, remote, shared, store, display)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join the cluster; True when this call connected (and so disconnects at the end)."""
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS") or "auto"
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        except ConnectionError as exc:
            raise PolymodalError(
                f"no Ray cluster at {address}: {exc}",
                where="--address",
                fix="start one (`ray start --head`), or give its address with --address",
            ) from exc
        return True

    def _rounds(
        self, ray: Any, remote: Any, shared: Any, store: ResultsStore, display: Any
    ) -> list[str]:
        """Submit a task per cell left, collect the outcomes; again until none is left."""
        ran: list[str] = []
        while (left := _left(store)) > 0:
            pending = [remote.remote(shared) for _ in range(left)]
            progressed = False
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                outcome = self._outcome(ray, ready[0], display)
                if outcome is None:
                    continue
                progressed = True
                ran.append(outcome.key)
                done = store.counts()["done"]
                label = outcome.key.replace("/", " / ")
                message = f"{outcome.message} [{outcome.host}]"
                display.cell_finished(label, outcome.position + 1, message, done)
            if not progressed:  # the cells left run elsewhere, or wait for a lease to expire
                time.sleep(self.poll_s)
        return ran

    @staticmethod
    def _outcome(ray: Any, ref: Any, display: Any) -> CellOutcome | None:
        """A task's outcome; None when it found no cell, or when its worker died for good
        (its cell is then taken over by a later task)."""
        lost = (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.ObjectLostError,
            ray.exceptions.LocalRayletDiedError,
        )
        try:
            return ray.get(ref)
        except lost as exc:
            display.note(f"a cell's worker died ({type(exc).__name__}): the cell runs again")
            return None


def _left(store: ResultsStore) -> int:
    counts = store.counts()
    return counts["pending"] + counts["running"]


def _worker_job(job: BenchJob) -> WorkerJob:
    cells = {cell.key: cell for cell in job.cells}
    return WorkerJob(cells, job.bench_dir, job.store_url, job.lease_s, job.heartbeat_s, os.getcwd())
