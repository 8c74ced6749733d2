"""The embedded results store: ``results.sqlite`` in the benchmark directory (the default).

The database is in WAL mode and every change is one ``BEGIN IMMEDIATE`` transaction, so:

- a benchmark killed at any point (even SIGKILL) leaves a consistent store: a cell is ``done``
  only once its results are committed, and a half-run cell stays ``running``;
- several ``polymodal bench`` processes of one machine can share one store: a process *claims* a
  cell atomically (one writer at a time) and keeps a heartbeat while it works.

WAL needs a local file system (not NFS): for several machines use
:class:`~polymodal.bench.store_postgres.PostgresStore`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from polymodal.bench.store_base import ResultsStore, Row, StoreError, live

STORE_FILE = "results.sqlite"


class SQLiteStore(ResultsStore):
    """A results store in one SQLite file. Safe to share between processes of one machine.

    Args:
        path: the database file (``BENCH_DIR/results.sqlite``), created when missing.
        timeout: seconds to wait for another process's write transaction.

    Example:
        >>> store = SQLiteStore(bench_dir / "results.sqlite")
        >>> store.sync(planned_cells)
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against process kill
            with self.transaction() as db:
                self._create_schema(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the results store: {exc}",
                where=self.location,
                fix="give a benchmark directory on a local disk, or remove a damaged file",
            ) from None
        if str(mode).lower() != "wal":
            raise StoreError(
                f"the results store cannot use WAL mode (got {mode!r})",
                where=self.location,
                fix="put the benchmark directory on a local file system",
            )
        self._check_version()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def reopen(self) -> SQLiteStore:
        """Another connection to the same file."""
        return SQLiteStore(self.path, timeout=self.timeout)

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

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self._db.execute(sql, tuple(args)).fetchall()

    def _choose(self, db: Any, now: float, lease_s: float) -> str | None:
        """The first planned cell, in order, that is pending or not live (the writer lock of
        ``BEGIN IMMEDIATE`` keeps other processes out until the claim commits)."""
        rows = db.execute(
            "SELECT * FROM cells WHERE in_plan = 1 AND status IN ('pending', 'running')"
            " ORDER BY position"
        ).fetchall()
        chosen = next(
            (r for r in rows if r["status"] == "pending" or not live(r, now, lease_s)), None
        )
        return None if chosen is None else str(chosen["key"])

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound database."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
