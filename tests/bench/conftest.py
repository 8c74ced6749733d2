"""Results-store fixtures: a throwaway PostgreSQL cluster for the session, a fresh database per
test, and ``store_location``, which runs a test once per backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import uuid

import pytest

from polymodal.bench.store import STORE_FILE
from polymodal.bench.store_cluster import TemporaryCluster, find_bin_dir

REQUIRE = "POLYMODAL_REQUIRE_POSTGRES"
"""Set (as .ci/run does) to fail instead of skipping when PostgreSQL is not there."""


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE):
        pytest.fail(f"{reason} (and {REQUIRE} is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server of its own for the session (skips, saying why, when there is none)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed: pip install 'polymodal[postgres]'")
    if find_bin_dir() is None:
        _unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
    with TemporaryCluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL of a new, empty database on the session's cluster."""
    return pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request, tmp_path) -> str:
    """Where a store of the backend under test lives (a file path, or a database URL)."""
    if request.param == "sqlite":
        return str(tmp_path / STORE_FILE)
    return request.getfixturevalue("pg_url")
