"""A throwaway PostgreSQL cluster in a temporary folder, for tests and benchmarks of the store.

Uses the server binaries of the machine (Debian: ``/usr/lib/postgresql/<version>/bin``;
``POLYMODAL_PG_BIN`` names another folder): ``initdb`` a cluster with ``trust`` authentication,
``pg_ctl start`` it on a free local port with ``fsync`` off, and remove it all on :meth:`stop`.
PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` user
(or ``nobody``) and its commands run through ``runuser``.

Example:
    >>> with TemporaryCluster() as cluster:
    ...     url = cluster.create_database("bench")   # postgresql://polymodal@127.0.0.1:PORT/bench
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from polymodal.bench.store_base import StoreError

SUPERUSER = "polymodal"
PREFERRED_VERSION = "15"


def find_bin_dir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: ``$POLYMODAL_PG_BIN``, Debian's version 15, the
    newest other Debian version, or ``initdb`` on the PATH; None when there is none."""
    candidates = []
    if os.environ.get("POLYMODAL_PG_BIN"):
        candidates.append(Path(os.environ["POLYMODAL_PG_BIN"]))
    root = Path("/usr/lib/postgresql")
    candidates.append(root / PREFERRED_VERSION / "bin")
    if root.is_dir():
        versions = sorted(root.iterdir(), key=lambda p: (len(p.name), p.name), reverse=True)
        candidates += [v / "bin" for v in versions]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    return next((c for c in candidates if (c / "initdb").is_file()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_user() -> str | None:
    """Under root, the unprivileged user that owns the cluster; None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise StoreError("running as root, and there is no postgres or nobody user to run the server")


class TemporaryCluster:
    """A PostgreSQL server of its own, on ``127.0.0.1:port``, until :meth:`stop`.

    Args:
        bin_dir: the server binaries (default: :func:`find_bin_dir`).

    Raises:
        StoreError: no binaries, or the server did not start (its log is in the message).
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise StoreError(
                "no PostgreSQL server binaries (initdb, pg_ctl)",
                fix="apt-get install postgresql, or set POLYMODAL_PG_BIN",
            )
        self.bin_dir = found
        self.user = _server_user()
        self.port = 0
        self.folder = Path(tempfile.mkdtemp(prefix="polymodal-pg-"))

    def _run(self, *args: str) -> None:
        prefix = [] if self.user is None else ["runuser", "-u", self.user, "--"]
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise StoreError(f"{Path(args[0]).name} failed: {done.stderr.strip()}\n{tail}")

    def start(self) -> TemporaryCluster:
        """``initdb`` and start the server (about a second)."""
        if self.user is not None:
            shutil.chown(self.folder, user=self.user)
        data = self.folder / "data"
        self._run(str(self.bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER,
                  "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        self.port = _free_port()
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(data), "-l",
                  str(self.folder / "server.log"), "-w", "-o", options, "start")  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (a plain identifier); returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if self.port:
            data = str(self.folder / "data")
            self._run(str(self.bin_dir / "pg_ctl"), "-D", data, "-m", "immediate", "stop")
            self.port = 0
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> TemporaryCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
