"""The shared results store: one PostgreSQL database that workers on many machines use together.

``polymodal bench SPEC --store postgresql://user@host:5432/dbname --out SHARED_FOLDER`` on each
machine: the cells live in the database (the schema of :mod:`polymodal.bench.store_base`, the
same as SQLite's), the run folders under ``--out``, which every worker must reach.

A claim is one transaction that picks the first free cell with ``SELECT ... FOR UPDATE SKIP
LOCKED``: workers claiming at once lock different rows instead of waiting for each other, and a
row is claimed by one transaction only. A worker keeps a heartbeat on its cell; when it dies, its
cell is free again once the heartbeat is older than the lease (at once when the dead worker was
a process of the claiming machine). Planning (:meth:`~ResultsStore.sync`) locks the table, so
workers started together plan once. The password is best left out of the URL (``PGPASSWORD`` or
``~/.pgpass``, as libpq reads them): messages and the benchmark folder show the URL without it.

Needs psycopg 3: ``pip install 'polymodal[postgres]'``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from polymodal.bench.store_base import (
    CLAIM_SET,
    DEFAULT_LEASE_S,
    CellRecord,
    ResultsStore,
    Row,
    StoreError,
    owner_alive,
    record_of,
)

CONNECT_TIMEOUT_S = 10

_FREE = (
    "SELECT key FROM cells WHERE in_plan = 1 AND (status = 'pending' OR"
    " (status = 'running' AND (heartbeat IS NULL OR heartbeat < ?)))"
    " ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED"
)
"""The first pending or lease-expired cell that no other claim has locked (locks it)."""
_CLAIM_FREE = CLAIM_SET.replace("WHERE key = ?", f"WHERE key = ({_FREE})") + " RETURNING *"


def redact(url: str) -> str:
    """``url`` without its password (``postgresql://u:secret@h/db`` -> ``postgresql://u@h/db``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


def _psycopg() -> Any:
    """The psycopg module, or a :class:`StoreError` that names the extra to install."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "a PostgreSQL results store needs psycopg 3, which is not installed",
            where="--store",
            fix="pip install 'polymodal[postgres]'",
        ) from None
    return psycopg


class _Cursor:
    """A psycopg cursor that takes the ``?`` placeholders of the shared SQL."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("?", "%s"), tuple(args))


class PostgresStore(ResultsStore):
    """A results store in a PostgreSQL database (the tables are created when missing).

    Args:
        url: ``postgresql://[user[:password]@]host[:port]/dbname[?options]``; one database (or
            one schema, via ``?options=-csearch_path%3Dname``) per benchmark.

    Raises:
        StoreError: psycopg is missing, or the database cannot be reached.
    """

    def __init__(self, url: str) -> None:
        psycopg = _psycopg()
        from psycopg.rows import dict_row

        self.url = url
        self.location = redact(url)
        try:
            self._db = psycopg.connect(
                url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S
            )
            with self.transaction() as db:
                # CREATE TABLE IF NOT EXISTS is not safe against itself: one worker at a time
                db.execute("SELECT pg_advisory_xact_lock(hashtext('polymodal results store'))")
                self._create_schema(db)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot open the results store: {' '.join(str(exc).split())}",
                where=self.location,
                fix="check the URL, that the server runs and that the database exists"
                " (createdb NAME)",
            ) from None
        self._check_version()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def reopen(self) -> PostgresStore:
        """Another connection to the same database."""
        return PostgresStore(self.url)

    @contextmanager
    def transaction(self) -> Iterator[_Cursor]:
        """A transaction (READ COMMITTED): committed on success, rolled back on any error."""
        with self._db.transaction(), self._db.cursor() as cursor:
            yield _Cursor(cursor)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._db.cursor() as cursor:
            return cursor.execute(sql.replace("?", "%s"), tuple(args)).fetchall()

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        """One statement in autocommit: atomic on its own, one round trip."""
        with self._db.cursor() as cursor:
            return int(cursor.execute(sql.replace("?", "%s"), tuple(args)).rowcount)

    def claim(self, owner: str, *, lease_s: float = DEFAULT_LEASE_S) -> CellRecord | None:
        """As :meth:`ResultsStore.claim`; a free cell is claimed in one statement (``UPDATE
        ... WHERE key = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING *``)."""
        now = time.time()
        rows = self._rows(_CLAIM_FREE, (owner, owner, now, now, now - lease_s))
        if rows:
            return record_of(rows[0])
        return super().claim(owner, lease_s=lease_s)  # cells of dead processes of this host

    def _lock_plan(self, db: Any) -> None:
        """Planning waits for other plans and claims, and they for it."""
        db.execute("LOCK TABLE cells IN SHARE ROW EXCLUSIVE MODE")

    def _choose(self, db: Any, now: float, lease_s: float) -> str | None:
        """The first pending or lease-expired cell not locked by another claim; else a cell of
        a dead process of this host. The row stays locked until the claim commits."""
        row = db.execute(_FREE, (now - lease_s,)).fetchone()
        if row is not None:
            return str(row["key"])
        mine = db.execute(
            "SELECT key, owner FROM cells WHERE in_plan = 1 AND status = 'running'"
            " AND split_part(owner, ':', 1) = ? ORDER BY position",
            (socket.gethostname(),),
        ).fetchall()
        for candidate in mine:
            if owner_alive(candidate["owner"]) is not False:
                continue
            locked = db.execute(
                "SELECT key FROM cells WHERE key = ? AND owner = ? AND status = 'running'"
                " FOR UPDATE SKIP LOCKED",
                (candidate["key"], candidate["owner"]),
            ).fetchone()
            if locked is not None:
                return str(locked["key"])
        return None

    def integrity(self) -> str:
        """``"ok"`` when every row is in a consistent state, else the offending keys."""
        bad = self._rows(
            "SELECT key FROM cells WHERE (status = 'running') <> (owner IS NOT NULL)"
            " OR (status = 'done' AND metrics_json IS NULL) OR starts < completions"
            " ORDER BY key"
        )
        return "ok" if not bad else "inconsistent cells: " + ", ".join(r["key"] for r in bad)
