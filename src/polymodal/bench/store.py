"""The results store of a benchmark: where it is, and opening it.

One interface (:class:`~polymodal.bench.store_base.ResultsStore`), two backends:

- SQLite (the default): ``results.sqlite`` in the benchmark directory, shared by the processes
  of one machine (:mod:`polymodal.bench.store_sqlite`);
- PostgreSQL: ``--store postgresql://...`` (or ``store:`` in the spec), shared by workers on any
  number of machines (:mod:`polymodal.bench.store_postgres`). The benchmark directory then holds
  the run folders and ``results.store``, the store's URL without its password, so that
  ``polymodal report`` / ``leaderboard`` and later ``bench`` runs on that folder find it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from polymodal.bench.store_base import (
    DEFAULT_LEASE_S,
    SCHEMA_VERSION,
    CellRecord,
    PlannedCell,
    ResultsStore,
    Status,
    StoreError,
    claim_next,
    new_owner,
    owner_alive,
)
from polymodal.bench.store_postgres import PostgresStore, redact
from polymodal.bench.store_sqlite import STORE_FILE, SQLiteStore

__all__ = [
    "DEFAULT_LEASE_S",
    "POINTER_FILE",
    "SCHEMA_VERSION",
    "STORE_FILE",
    "CellRecord",
    "PlannedCell",
    "PostgresStore",
    "ResultsStore",
    "SQLiteStore",
    "Status",
    "StoreError",
    "claim_next",
    "connect_store",
    "is_bench_dir",
    "new_owner",
    "open_store",
    "owner_alive",
    "store_for",
]

POINTER_FILE = "results.store"
"""In a benchmark directory whose store is a database: its URL, without password."""

BACKENDS: dict[str, Callable[[str], ResultsStore]] = {
    "postgresql": PostgresStore,
    "postgres": PostgresStore,
}
"""URL scheme -> backend, for ``--store URL``."""


def connect_store(location: str | Path) -> ResultsStore:
    """Open the store at ``location``: a database URL (``postgresql://...``) or a SQLite file.

    Raises:
        StoreError: an unknown URL scheme, or a store that cannot be opened.
    """
    text = str(location)
    scheme, sep, _ = text.partition("://")
    if not sep:
        return SQLiteStore(Path(text))
    backend = BACKENDS.get(scheme.lower())
    if backend is None:
        raise StoreError(
            f"unknown store {scheme!r}",
            where=redact(text),
            fix=f"give a {' or '.join(f'{s}://' for s in BACKENDS)} URL, or leave --store out"
            " for results.sqlite in the benchmark directory",
        )
    return backend(text)


def _pointer(bench_dir: Path) -> str | None:
    path = bench_dir / POINTER_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def is_bench_dir(path: str | Path) -> bool:
    """Whether ``path`` is a benchmark directory (with ``results.sqlite`` or ``results.store``)."""
    path = Path(path)
    return (path / STORE_FILE).is_file() or (path / POINTER_FILE).is_file()


def store_for(bench_dir: str | Path, location: str | None = None) -> ResultsStore:
    """The store a benchmark run into ``bench_dir`` uses, opened (created when new).

    ``location`` None: the database ``bench_dir`` already points to, else its ``results.sqlite``.
    A database URL is recorded in ``bench_dir/results.store``. One folder has one store.

    Raises:
        StoreError: ``location`` differs from the store the folder already uses.
    """
    bench_dir = Path(bench_dir)
    recorded = _pointer(bench_dir)
    if location is None:
        return connect_store(recorded or bench_dir / STORE_FILE)
    url = redact(str(location))
    if (bench_dir / STORE_FILE).is_file() or (recorded is not None and recorded != url):
        raise StoreError(
            f"this benchmark directory's results are in {recorded or STORE_FILE}, not in {url}",
            where=str(bench_dir),
            fix="give the same --store, or another --out for another store",
        )
    store = connect_store(location)
    if recorded is None:
        bench_dir.mkdir(parents=True, exist_ok=True)
        (bench_dir / POINTER_FILE).write_text(store.location + "\n", encoding="utf-8")
    return store


def open_store(bench_dir: str | Path) -> ResultsStore:
    """The store of an existing benchmark directory.

    Raises:
        StoreError: ``bench_dir`` has neither ``results.sqlite`` nor ``results.store``.
    """
    bench_dir = Path(bench_dir)
    if not is_bench_dir(bench_dir):
        raise StoreError(
            f"not a benchmark directory (no {STORE_FILE} or {POINTER_FILE})",
            where=str(bench_dir),
            fix="give a directory written by `polymodal bench`",
        )
    return store_for(bench_dir)
