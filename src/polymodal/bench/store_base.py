"""The results-store interface: one row per benchmark cell, claimed, heartbeated and completed.

:class:`ResultsStore` holds everything that does not depend on the database: the schema (one
text for SQLite and PostgreSQL), planning (:meth:`~ResultsStore.sync`), completing, failing,
releasing and reading cells. A backend (:mod:`polymodal.bench.store_sqlite`,
:mod:`polymodal.bench.store_postgres`) supplies the connection, its transactions and the one
statement that differs: how a cell is chosen and locked by :meth:`~ResultsStore.claim`.

Status: ``pending`` (to run), ``running`` (claimed), ``done`` (results stored), ``failed`` (the
error is stored; retried by the next ``bench`` invocation). A ``running`` cell whose owner is
dead (same host, pid gone) or whose heartbeat is older than the lease is claimed again.
``starts`` counts how often a cell was claimed and ``completions`` how often it finished.
SQL is written with ``?`` placeholders; a backend with another style translates them.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from polymodal.errors import PolymodalError
from polymodal.rundir.layout import METRICS_FILE

SCHEMA_VERSION = 1
DEFAULT_LEASE_S = 120.0
"""A ``running`` cell whose heartbeat is older than this is taken to be abandoned."""

Status = Literal["pending", "running", "done", "failed"]
Row = Mapping[str, Any]

# DOUBLE PRECISION: a 64-bit float in both databases (PostgreSQL's REAL would be 32-bit).
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    model TEXT NOT NULL,
    seed INTEGER NOT NULL,
    position INTEGER NOT NULL,
    in_plan INTEGER NOT NULL DEFAULT 1,
    config_hash TEXT NOT NULL,
    config_json TEXT NOT NULL,
    run_path TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    owner TEXT,
    ran_by TEXT,
    heartbeat DOUBLE PRECISION,
    created DOUBLE PRECISION NOT NULL,
    started DOUBLE PRECISION,
    finished DOUBLE PRECISION,
    starts INTEGER NOT NULL DEFAULT 0,
    completions INTEGER NOT NULL DEFAULT 0,
    task TEXT,
    primary_metric TEXT,
    primary_value DOUBLE PRECISION,
    higher_is_better INTEGER,
    metrics_json TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS cells_status ON cells (status, position);
CREATE INDEX IF NOT EXISTS cells_group ON cells (dataset, model, seed);
"""

CLAIM_SET = (
    "UPDATE cells SET status = 'running', owner = ?, ran_by = ?, heartbeat = ?, started = ?,"
    " finished = NULL, starts = starts + 1, error = NULL WHERE key = ?"
)
_RESET = (
    "UPDATE cells SET status = 'pending', owner = NULL, heartbeat = NULL, config_hash = ?,"
    " config_json = ?, finished = NULL, primary_metric = NULL, primary_value = NULL,"
    " higher_is_better = NULL, metrics_json = NULL, task = NULL, error = NULL WHERE key = ?"
)


class StoreError(PolymodalError):
    """The results store cannot be opened or used."""


class Cursor(Protocol):
    """What a backend's transaction yields: ``execute`` returning a cursor with rows."""

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any: ...


@dataclass(frozen=True)
class CellRecord:
    """One row of the store.

    Attributes:
        key: ``dataset/model/seed``.
        owner: the process holding the cell while it is ``running`` (``host:pid:token``).
        ran_by: the process that claimed it last (kept after it finished).
        run_path: the run directory, relative to the benchmark directory.
        metrics: the cell's ``metrics.json`` payload (None until done).
        primary_value: the primary metric's value (None until done, or when not finite).
        other fields: as the columns of the ``cells`` table.
    """

    key: str
    dataset: str
    model: str
    seed: int
    position: int
    in_plan: bool
    config_hash: str
    config: dict[str, Any]
    run_path: str
    status: Status
    owner: str | None
    ran_by: str | None
    heartbeat: float | None
    created: float
    started: float | None
    finished: float | None
    starts: int
    completions: int
    task: str | None
    primary_metric: str | None
    primary_value: float | None
    higher_is_better: bool | None
    metrics: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class PlannedCell:
    """What the store needs to know of a cell to plan it (see :meth:`ResultsStore.sync`)."""

    key: str
    dataset: str
    model: str
    seed: int
    position: int
    config_hash: str
    config: dict[str, Any]
    run_path: str


def new_owner() -> str:
    """An owner id for this process: ``host:pid:token`` (the token tells reused pids apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process of ``owner`` runs: True/False on this host, None on another host."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def live(row: Row, now: float, lease_s: float) -> bool:
    """Whether ``row`` is running under an owner that is alive and within its lease."""
    if row["status"] != "running" or row["owner"] is None:
        return False
    if owner_alive(row["owner"]) is False:
        return False
    return row["heartbeat"] is not None and now - row["heartbeat"] <= lease_s


class ResultsStore(ABC):
    """The index of a benchmark's cells, shared by every process that runs the benchmark.

    Backends: :class:`~polymodal.bench.store_sqlite.SQLiteStore` (a file in the benchmark
    directory, one machine) and :class:`~polymodal.bench.store_postgres.PostgresStore` (a
    PostgreSQL database, any number of machines). Open one with
    :func:`polymodal.bench.store.connect_store`.

    Example:
        >>> store.sync(planned_cells)
        >>> record = store.claim(owner)          # None when nothing is left to run
        >>> store.complete(record.key, owner, payload)
    """

    location: str
    """Where the store is (a file path, or a URL without its password), for messages."""

    # ------------------------------------------------------------------------------ backend

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Cursor]:
        """A write transaction: all or nothing; yields something with ``execute(sql, args)``."""

    @abstractmethod
    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """The rows of one read-only statement, as mappings of column to value."""

    @abstractmethod
    def _choose(self, db: Cursor, now: float, lease_s: float) -> str | None:
        """Inside a claim's transaction: the key of the cell to claim, locked, or None."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @abstractmethod
    def reopen(self) -> ResultsStore:
        """Another connection to the same store (e.g. for a heartbeat thread)."""

    @abstractmethod
    def integrity(self) -> str:
        """``"ok"`` for a sound database, else what is wrong."""

    def _lock_plan(self, db: Cursor) -> None:  # noqa: B027 - optional hook
        """Inside :meth:`sync`'s transaction: keep other processes from planning at once."""

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table (None when absent)."""
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return None if not rows else str(rows[0]["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table (e.g. the spec, as JSON)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _create_schema(self, db: Cursor) -> None:
        """Create the tables if missing (inside a transaction)."""
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)
        db.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
            (str(SCHEMA_VERSION),),
        )

    def _check_version(self) -> None:
        version = self.get_meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StoreError(
                f"results store schema {version}, this polymodal reads {SCHEMA_VERSION}",
                where=self.location,
                fix="use a new --out directory (or a new database)",
            )

    # ------------------------------------------------------------------------------ planning

    def sync(
        self,
        planned: Sequence[PlannedCell],
        *,
        rerun: bool = False,
        lease_s: float = DEFAULT_LEASE_S,
        bench_dir: Path | None = None,
    ) -> dict[str, int]:
        """Make the store's plan the cells of ``planned``, in one transaction.

        New cells are added as ``pending``. A cell whose config hash changed is reset to
        ``pending`` (its results are dropped). ``failed`` cells become ``pending`` again (they
        are retried), as do ``done`` cells whose ``metrics.json`` is gone from ``bench_dir``. With
        ``rerun``, every planned cell that is not running under a live owner is reset. Cells that
        are no longer planned are kept but marked out of the plan.

        Returns:
            Counts: ``added``, ``changed``, ``retried``, ``reset``, ``kept`` (done and kept).
        """
        now = time.time()
        counts = {"added": 0, "changed": 0, "retried": 0, "reset": 0, "kept": 0}
        with self.transaction() as db:
            self._lock_plan(db)
            db.execute("UPDATE cells SET in_plan = 0")
            for cell in planned:
                row = db.execute("SELECT * FROM cells WHERE key = ?", (cell.key,)).fetchone()
                config_json = json.dumps(cell.config, sort_keys=True)
                if row is None:
                    db.execute(
                        "INSERT INTO cells (key, dataset, model, seed, position, config_hash,"
                        " config_json, run_path, status, created)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                        (cell.key, cell.dataset, cell.model, cell.seed, cell.position,
                         cell.config_hash, config_json, cell.run_path, now),
                    )  # fmt: skip
                    counts["added"] += 1
                    continue
                db.execute(
                    "UPDATE cells SET in_plan = 1, position = ?, run_path = ? WHERE key = ?",
                    (cell.position, cell.run_path, cell.key),
                )
                reset = _reset_reason(row, cell, rerun, now, lease_s, bench_dir)
                if reset is None:
                    counts["kept"] += row["status"] == "done"
                    continue
                counts[reset] += 1
                db.execute(_RESET, (cell.config_hash, config_json, cell.key))
        return counts

    # ------------------------------------------------------------------------------ claims

    def claim(self, owner: str, *, lease_s: float = DEFAULT_LEASE_S) -> CellRecord | None:
        """Atomically take the first planned cell that needs running, or None if none does.

        A cell needs running when it is ``pending``, or ``running`` under an owner that is dead
        or whose heartbeat is older than ``lease_s`` seconds. The cell becomes ``running`` under
        ``owner`` with a fresh heartbeat, and its ``starts`` count goes up by one.
        """
        now = time.time()
        with self.transaction() as db:
            key = self._choose(db, now, lease_s)
            if key is None:
                return None
            db.execute(CLAIM_SET, (owner, owner, now, now, key))
            row = db.execute("SELECT * FROM cells WHERE key = ?", (key,)).fetchone()
        return record_of(row)

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        """Run one changing statement atomically; returns the number of rows it changed."""
        with self.transaction() as db:
            return int(db.execute(sql, args).rowcount)

    def _owned_update(self, sets: str, args: Sequence[Any], key: str, owner: str) -> bool:
        """``UPDATE cells SET <sets>`` on ``owner``'s running claim of ``key``; False if lost."""
        sql = f"UPDATE cells SET {sets} WHERE key = ? AND owner = ? AND status = 'running'"
        return self._write(sql, (*args, key, owner)) == 1

    def heartbeat(self, key: str, owner: str) -> bool:
        """Refresh the heartbeat of ``owner``'s claim on ``key``; False if the claim was lost."""
        return self._owned_update("heartbeat = ?", (time.time(),), key, owner)

    def complete(self, key: str, owner: str, payload: dict[str, Any]) -> bool:
        """Store the results of ``owner``'s cell and mark it ``done``.

        Args:
            payload: the cell's ``metrics.json`` (``task``, ``primary_metric``, ``metrics``, ...).

        Returns:
            False (and nothing stored) when ``owner`` no longer holds the claim.
        """
        primary = payload.get("primary_metric")
        value = payload.get("metrics", {}).get(primary) if primary else None
        higher = payload.get("higher_is_better")
        sets = (
            "status = 'done', owner = NULL, heartbeat = NULL, finished = ?,"
            " completions = completions + 1, task = ?, primary_metric = ?, primary_value = ?,"
            " higher_is_better = ?, metrics_json = ?, error = NULL"
        )
        args = (time.time(), payload.get("task"), primary,
                float(value) if isinstance(value, (int, float)) else None,
                None if higher is None else int(bool(higher)), json.dumps(payload))  # fmt: skip
        return self._owned_update(sets, args, key, owner)

    def fail(self, key: str, owner: str, error: str) -> bool:
        """Mark ``owner``'s cell ``failed`` with ``error``; False if the claim was lost."""
        sets = "status = 'failed', owner = NULL, heartbeat = NULL, finished = ?, error = ?"
        return self._owned_update(sets, (time.time(), error), key, owner)

    def release(self, key: str, owner: str) -> bool:
        """Give ``owner``'s claim back (``pending``), e.g. on Ctrl-C; False if already lost."""
        sets = "status = 'pending', owner = NULL, heartbeat = NULL"
        return self._owned_update(sets, (), key, owner)

    # ------------------------------------------------------------------------------ reading

    def cells(self, *, planned_only: bool = True, status: Status | None = None) -> list[CellRecord]:
        """Cells in benchmark order, optionally only planned ones or one status."""
        query = "SELECT * FROM cells"
        where, args = [], []
        if planned_only:
            where.append("in_plan = 1")
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            query += " WHERE " + " AND ".join(where)
        return [record_of(r) for r in self._rows(query + " ORDER BY position, key", args)]

    def counts(self) -> dict[str, int]:
        """Number of planned cells per status (every status present, 0 when none)."""
        counts = dict.fromkeys(("pending", "running", "done", "failed"), 0)
        rows = self._rows(
            "SELECT status, COUNT(*) AS n FROM cells WHERE in_plan = 1 GROUP BY status"
        )
        counts.update({str(r["status"]): int(r["n"]) for r in rows})
        return counts


def claim_next(
    store: ResultsStore,
    owner: str,
    *,
    lease_s: float = DEFAULT_LEASE_S,
    poll_s: float = 2.0,
    wait: bool = True,
) -> CellRecord | None:
    """Claim the next cell; while none is free but some run elsewhere, wait for them.

    With ``wait``, a worker that finds every remaining cell running under other owners polls
    every ``poll_s`` seconds: a cell whose owner died comes free once its lease expires (or at
    once when the owner was a process of this host), and this worker takes it. Returns None when
    no planned cell is pending or running.
    """
    while (record := store.claim(owner, lease_s=lease_s)) is None:
        if not wait or store.counts()["running"] == 0:
            return None
        time.sleep(poll_s)
    return record


def _reset_reason(
    row: Row,
    cell: PlannedCell,
    rerun: bool,
    now: float,
    lease_s: float,
    bench_dir: Path | None,
) -> str | None:
    """Why a stored cell goes back to ``pending`` (a key of :meth:`sync`'s counts), or None."""
    if row["config_hash"] != cell.config_hash:
        return "changed"
    if row["status"] == "failed":
        return "retried"
    if rerun and row["status"] != "pending" and not live(row, now, lease_s):
        return "reset"
    if row["status"] == "done" and not _has_results(bench_dir, cell.run_path):
        return "retried"
    return None


def _has_results(bench_dir: Path | None, run_path: str) -> bool:
    """Whether the run's ``metrics.json`` is on disk (True when no folder is given to check)."""
    return bench_dir is None or (bench_dir / run_path / METRICS_FILE).is_file()


def record_of(row: Row) -> CellRecord:
    """A :class:`CellRecord` from a ``cells`` row."""
    higher = row["higher_is_better"]
    return CellRecord(
        key=row["key"],
        dataset=row["dataset"],
        model=row["model"],
        seed=int(row["seed"]),
        position=int(row["position"]),
        in_plan=bool(row["in_plan"]),
        config_hash=row["config_hash"],
        config=json.loads(row["config_json"]),
        run_path=row["run_path"],
        status=row["status"],
        owner=row["owner"],
        ran_by=row["ran_by"],
        heartbeat=row["heartbeat"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        starts=int(row["starts"]),
        completions=int(row["completions"]),
        task=row["task"],
        primary_metric=row["primary_metric"],
        primary_value=row["primary_value"],
        higher_is_better=None if higher is None else bool(higher),
        metrics=None if row["metrics_json"] is None else json.loads(row["metrics_json"]),
        error=row["error"],
    )
