"""A throwaway Ray cluster of several nodes on this machine, for tests and benchmarks of the
``ray`` executor (like :mod:`polymodal.bench.store_cluster` for PostgreSQL).

Each node is a ``ray start --block`` process in a session of its own (the head first, then
workers joining its address), with ``num_cpus`` CPUs, no dashboard, a small object store, and
every file of Ray (sessions, logs, sockets, ``ray_current_cluster``) under the folder given.
:meth:`LocalRayCluster.kill_node` kills a node with SIGKILL, its task workers too, as a lost
machine would be; :meth:`LocalRayCluster.stop` ends every process the cluster started.

Example:
    >>> with LocalRayCluster(tmp / "ray", nodes=2) as cluster:
    ...     run(["polymodal", "bench", SPEC, "--executor", "ray", "--address", cluster.address])
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from polymodal.errors import PolymodalError

STARTED = "Ray runtime started"
"""What ``ray start`` prints once its node is up."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ray_command() -> list[str]:
    script = Path(sys.executable).with_name("ray")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ray.scripts.scripts"]


class LocalRayCluster:
    """A head and ``nodes - 1`` worker nodes on this machine (see the module docstring).

    Args:
        root: folder for Ray's files (keep the path short: Ray's socket paths must fit in 107
            characters).
        nodes: number of nodes, the head included.
        num_cpus: CPUs each node offers.
        env: extra environment of the nodes (their task workers inherit it), e.g. PYTHONPATH.
        timeout_s: seconds to wait for each node to start.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        nodes: int = 2,
        num_cpus: int = 1,
        env: dict[str, str] | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.nodes, self.num_cpus, self.timeout_s = nodes, num_cpus, timeout_s
        self.env = {**os.environ, "RAY_TMPDIR": str(self.root), "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.update(env or {})
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self._workers: dict[int, set[int]] = {}  # node -> pids of its task workers seen

    def __enter__(self) -> LocalRayCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the head, then the worker nodes, each waited for."""
        self.root.mkdir(parents=True, exist_ok=True)
        client_port = f"--ray-client-server-port={_free_port()}"
        head = ["--head", f"--port={self.port}", f"--temp-dir={self.root}",
                "--include-dashboard=false", client_port]  # fmt: skip
        for index in range(self.nodes):
            where = head if index == 0 else [f"--address={self.address}"]
            self._start_node(index, [*_ray_command(), "start", *where, *self._node_options()])

    def _node_options(self) -> list[str]:
        """Options of every node: its CPUs, a small object store, ports of its own (several
        nodes share this machine), and ``--block`` (the node lives as long as the process)."""
        ports = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                 "runtime-env-agent-port", "metrics-export-port")  # fmt: skip
        return [
            f"--num-cpus={self.num_cpus}",
            "--node-ip-address=127.0.0.1",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
            *(f"--{name}={_free_port()}" for name in ports),
            "--block",
        ]

    def _start_node(self, index: int, command: list[str]) -> None:
        log = self.root / f"node{index}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.root,
            )  # fmt: skip
        self.processes.append(process)
        deadline = time.monotonic() + self.timeout_s
        while STARTED not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise PolymodalError(
                    f"Ray node {index} did not start",
                    where=str(log),
                    fix=log.read_text(errors="replace")[-2000:],
                )
            time.sleep(0.2)

    def node_pids(self, index: int) -> set[int]:
        """Every live process of node ``index``: its ``ray start``, raylet, task workers."""
        import psutil

        process = self.processes[index]
        try:
            pids = {process.pid} | {c.pid for c in psutil.Process(process.pid).children(True)}
        except psutil.NoSuchProcess:
            pids = set()
        self._workers.setdefault(index, set()).update(pids)
        return pids

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of node ``index`` at once (a machine lost)."""
        pids = self.node_pids(index)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        self.processes[index].wait(timeout=30)

    def stop(self) -> None:
        """End every process the cluster started (SIGTERM, then SIGKILL after 10 s)."""
        pids = set()
        for index in range(len(self.processes)):
            pids |= self.node_pids(index) | self._workers.get(index, set())
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        for process in self.processes:
            if process.poll() is None:
                process.wait(timeout=30)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False
    return True
