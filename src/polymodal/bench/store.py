"""The results store of a benchmark: ``results.sqlite`` in the benchmark directory.

One row per cell (dataset, model variant, seed) with its config hash, status, owner, heartbeat,
timestamps, run path and results (primary metric and the whole ``metrics.json`` payload). The
database is in WAL mode and every change is one ``BEGIN IMMEDIATE`` transaction, so:

- a benchmark killed at any point (even SIGKILL) leaves a consistent store: a cell is ``done``
  only once its results are committed, and a half-run cell stays ``running``;
- several ``polymodal bench`` processes can share one store: a process *claims* a cell
  atomically (``pending`` -> ``running`` with its owner id ``host:pid:token``) and keeps a
  heartbeat while it works; a ``running`` cell whose owner is dead (same host, pid gone) or whose
  heartbeat is older than the lease is claimed again by the next process.

Status: ``pending`` (to run), ``running`` (claimed), ``done`` (results stored), ``failed`` (the
error is stored; retried by the next ``bench`` invocation). ``starts`` counts how often a cell was
claimed and ``completions`` how often it finished, so a resumed benchmark can show that finished
cells were not run again. WAL needs a local file system (not NFS).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from polymodal.errors import PolymodalError
from polymodal.rundir.layout import METRICS_FILE

STORE_FILE = "results.sqlite"
SCHEMA_VERSION = 1
DEFAULT_LEASE_S = 120.0
"""A ``running`` cell whose heartbeat is older than this is taken to be abandoned."""

Status = Literal["pending", "running", "done", "failed"]

_SCHEMA = """
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
    heartbeat REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    starts INTEGER NOT NULL DEFAULT 0,
    completions INTEGER NOT NULL DEFAULT 0,
    task TEXT,
    primary_metric TEXT,
    primary_value REAL,
    higher_is_better INTEGER,
    metrics_json TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS cells_status ON cells (status, position);
CREATE INDEX IF NOT EXISTS cells_group ON cells (dataset, model, seed);
"""


class StoreError(PolymodalError):
    """The results store cannot be opened or used."""


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


class ResultsStore:
    """The SQLite index of a benchmark's cells. Safe to share between processes.

    Args:
        path: the database file (``BENCH_DIR/results.sqlite``), created when missing.
        timeout: seconds to wait for another process's write transaction.

    Example:
        >>> store = ResultsStore(bench_dir / "results.sqlite")
        >>> store.sync(planned_cells)
        >>> record = store.claim(owner)          # None when nothing is left to run
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against process kill
            with self.transaction() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the results store: {exc}",
                where=str(self.path),
                fix="give a benchmark directory on a local disk, or remove a damaged file",
            ) from None
        if str(mode).lower() != "wal":
            raise StoreError(
                f"the results store cannot use WAL mode (got {mode!r})",
                where=str(self.path),
                fix="put the benchmark directory on a local file system",
            )
        version = self.get_meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StoreError(
                f"results store schema {version}, this polymodal reads {SCHEMA_VERSION}",
                where=str(self.path),
                fix="use a new --out directory",
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): all or nothing, one writer at a time."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table (None when absent)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table (e.g. the spec, as JSON)."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

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
                reset = self._reset_reason(row, cell, rerun, now, lease_s, bench_dir)
                if reset is None:
                    counts["kept"] += row["status"] == "done"
                    continue
                counts[reset] += 1
                db.execute(
                    "UPDATE cells SET status = 'pending', owner = NULL, heartbeat = NULL,"
                    " config_hash = ?, config_json = ?, finished = NULL, primary_metric = NULL,"
                    " primary_value = NULL, higher_is_better = NULL, metrics_json = NULL,"
                    " task = NULL, error = NULL WHERE key = ?",
                    (cell.config_hash, config_json, cell.key),
                )
        return counts

    def _reset_reason(
        self,
        row: sqlite3.Row,
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
        if rerun and row["status"] != "pending" and not self._live(row, now, lease_s):
            return "reset"
        if row["status"] == "done" and not _has_results(bench_dir, cell.run_path):
            return "retried"
        return None

    @staticmethod
    def _live(row: sqlite3.Row, now: float, lease_s: float) -> bool:
        """Whether ``row`` is running under an owner that is alive and within its lease."""
        if row["status"] != "running" or row["owner"] is None:
            return False
        if owner_alive(row["owner"]) is False:
            return False
        return row["heartbeat"] is not None and now - row["heartbeat"] <= lease_s

    # ------------------------------------------------------------------------------ claims

    def claim(self, owner: str, *, lease_s: float = DEFAULT_LEASE_S) -> CellRecord | None:
        """Atomically take the first planned cell that needs running, or None if none does.

        A cell needs running when it is ``pending``, or ``running`` under an owner that is dead
        or whose heartbeat is older than ``lease_s`` seconds. The cell becomes ``running`` under
        ``owner`` with a fresh heartbeat, and its ``starts`` count goes up by one.
        """
        now = time.time()
        with self.transaction() as db:
            rows = db.execute(
                "SELECT * FROM cells WHERE in_plan = 1 AND status IN ('pending', 'running')"
                " ORDER BY position"
            ).fetchall()
            chosen = next(
                (r for r in rows if r["status"] == "pending" or not self._live(r, now, lease_s)),
                None,
            )
            if chosen is None:
                return None
            db.execute(
                "UPDATE cells SET status = 'running', owner = ?, ran_by = ?, heartbeat = ?,"
                " started = ?, finished = NULL, starts = starts + 1, error = NULL WHERE key = ?",
                (owner, owner, now, now, chosen["key"]),
            )
            row = db.execute("SELECT * FROM cells WHERE key = ?", (chosen["key"],)).fetchone()
        return _record(row)

    def heartbeat(self, key: str, owner: str) -> bool:
        """Refresh the heartbeat of ``owner``'s claim on ``key``; False if the claim was lost."""
        with self.transaction() as db:
            done = db.execute(
                "UPDATE cells SET heartbeat = ? WHERE key = ? AND owner = ? AND status = 'running'",
                (time.time(), key, owner),
            )
            return done.rowcount == 1

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
        with self.transaction() as db:
            done = db.execute(
                "UPDATE cells SET status = 'done', owner = NULL, heartbeat = NULL, finished = ?,"
                " completions = completions + 1, task = ?, primary_metric = ?,"
                " primary_value = ?, higher_is_better = ?, metrics_json = ?, error = NULL"
                " WHERE key = ? AND owner = ? AND status = 'running'",
                (time.time(), payload.get("task"), primary,
                 value if isinstance(value, (int, float)) else None,
                 None if higher is None else int(bool(higher)),
                 json.dumps(payload), key, owner),
            )  # fmt: skip
            return done.rowcount == 1

    def fail(self, key: str, owner: str, error: str) -> bool:
        """Mark ``owner``'s cell ``failed`` with ``error``; False if the claim was lost."""
        with self.transaction() as db:
            done = db.execute(
                "UPDATE cells SET status = 'failed', owner = NULL, heartbeat = NULL,"
                " finished = ?, error = ? WHERE key = ? AND owner = ? AND status = 'running'",
                (time.time(), error, key, owner),
            )
            return done.rowcount == 1

    def release(self, key: str, owner: str) -> bool:
        """Give ``owner``'s claim back (``pending``), e.g. on Ctrl-C; False if already lost."""
        with self.transaction() as db:
            done = db.execute(
                "UPDATE cells SET status = 'pending', owner = NULL, heartbeat = NULL"
                " WHERE key = ? AND owner = ? AND status = 'running'",
                (key, owner),
            )
            return done.rowcount == 1

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
        rows = self._db.execute(query + " ORDER BY position, key", args).fetchall()
        return [_record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Number of planned cells per status (every status present, 0 when none)."""
        counts = dict.fromkeys(("pending", "running", "done", "failed"), 0)
        rows = self._db.execute(
            "SELECT status, COUNT(*) FROM cells WHERE in_plan = 1 GROUP BY status"
        ).fetchall()
        counts.update({str(r[0]): int(r[1]) for r in rows})
        return counts

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound database."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def _has_results(bench_dir: Path | None, run_path: str) -> bool:
    """Whether the run's ``metrics.json`` is on disk (True when no folder is given to check)."""
    return bench_dir is None or (bench_dir / run_path / METRICS_FILE).is_file()


def _record(row: sqlite3.Row) -> CellRecord:
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


def open_store(bench_dir: str | Path) -> ResultsStore:
    """The store of an existing benchmark directory.

    Raises:
        StoreError: ``bench_dir`` has no ``results.sqlite``.
    """
    path = Path(bench_dir) / STORE_FILE
    if not path.is_file():
        raise StoreError(
            "not a benchmark directory (no results.sqlite)",
            where=str(bench_dir),
            fix="give a directory written by `polymodal bench`",
        )
    return ResultsStore(path)
