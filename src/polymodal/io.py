"""Atomic file writes: a reader sees the old file or the new one, never half of one.

A write goes to a temporary file in the target's own folder (so the final rename never crosses a
file system), is flushed and ``fsync``-ed, then replaces the target with :func:`os.replace`, which
is atomic on POSIX and Windows. If the writer raises, the target is left untouched and the
temporary file is removed. Run files (``env.json``, ``metrics.json``, checkpoints) are written
through these functions, so a run killed mid-write never leaves a truncated file behind.

Example:
    >>> from pathlib import Path
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_json_atomic(folder / "metrics.json", {"acc": 0.5})
    >>> (folder / "metrics.json").read_text()
    '{\\n  "acc": 0.5\\n}\\n'
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["atomic_write", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]

_TEMP_SUFFIX = ".tmp"


def _open_temp(target: Path) -> tuple[int, Path]:
    """Create a new, empty, exclusive temporary file next to ``target``.

    ``os.open`` with mode 0o666 applies the process umask, so the final file gets the usual
    permissions (``tempfile.mkstemp`` would give 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:  # a name clash with another writer: draw another name
            continue


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open a folder for fsync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: Literal["w", "wb"] = "w",
    *,
    encoding: str = "utf-8",
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it is replaced atomically when the block ends.

    Args:
        path: the target file. Its folder is created if missing.
        mode: ``"w"`` (text, written with ``encoding``) or ``"wb"`` (bytes).
        encoding: text encoding for ``mode="w"``.

    Yields:
        A file object on a temporary file in the same folder as ``path``. On a normal exit it is
        flushed, fsync-ed and renamed over ``path``. If the block raises, ``path`` keeps its old
        content (or stays absent), the temporary file is removed, and the exception propagates.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_write(target) as f:
        ...     _ = f.write("hello")
        >>> target.read_text()
        'hello'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = _open_temp(target)
    try:
        handle = os.fdopen(fd, mode) if mode == "wb" else os.fdopen(fd, mode, encoding=encoding)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as strict JSON (no NaN/Infinity literals) to ``path`` atomically.

    The object is serialised before anything touches the disk, so a value JSON cannot hold
    (``TypeError``) or a non-finite float (``ValueError``) raises with ``path`` untouched.
    Key order is kept as given; the file ends with a newline.
    """
    text = json.dumps(obj, indent=indent, allow_nan=False) + "\n"
    write_text_atomic(path, text)
