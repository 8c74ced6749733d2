"""Tests of polymodal.io: atomic writes leave the old file or the new one, never a partial one."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from polymodal.io import atomic_write, write_bytes_atomic, write_json_atomic, write_text_atomic


class Boom(RuntimeError):
    """Raised by a writer midway."""


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_text_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_write(target) as f:
        f.write("héllo\n")
        f.write("world")
    assert target.read_bytes() == "héllo\nworld".encode()
    assert _listing(tmp_path) == ["a.txt"]


def test_binary_write_and_new_file(tmp_path: Path) -> None:
    target = tmp_path / "b.bin"
    payload = bytes(range(256)) * 3
    with atomic_write(target, "wb") as f:
        f.write(payload)
    assert target.read_bytes() == payload
    write_bytes_atomic(target, b"\x00")
    assert target.read_bytes() == b"\x00"
    assert _listing(tmp_path) == ["b.bin"]


def _fail_midway(target: Path, mode: str, seen: list[str]) -> None:
    """Write part of a file, note the folder's files, then raise."""
    chunk = "partial" if mode == "w" else b"partial"
    with atomic_write(target, mode) as f:  # type: ignore[arg-type]
        f.write(chunk * 1000)
        f.flush()  # the bytes reached the temp file on disk before the failure
        seen.extend(_listing(target.parent))
        raise Boom("writer failed")


@pytest.mark.parametrize("mode", ["w", "wb"])
def test_writer_raising_midway_keeps_old_file_and_no_temp(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("original content")
    seen: list[str] = []
    with pytest.raises(Boom):
        _fail_midway(target, mode, seen)
    assert seen[1] == "keep.txt"  # while writing: the old target and a temp file beside it
    assert seen[0].startswith(".keep.txt.")
    assert seen[0].endswith(".tmp")
    assert target.read_text() == "original content"
    assert _listing(tmp_path) == ["keep.txt"]


def test_failed_first_write_leaves_no_target(tmp_path: Path) -> None:
    seen: list[str] = []
    with pytest.raises(Boom):
        _fail_midway(tmp_path / "new.txt", "w", seen)
    assert len(seen) == 1
    assert _listing(tmp_path) == []


def test_permissions_follow_umask_not_mkstemp(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permission bits")
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "p.txt", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "p.txt").stat().st_mode) == 0o644


def test_text_and_json_helpers(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "t.txt", "line\n")
    assert (tmp_path / "t.txt").read_text() == "line\n"
    obj = {"b": [1, 2.5, None, True], "a": {"x": "é"}}
    write_json_atomic(tmp_path / "o.json", obj)
    text = (tmp_path / "o.json").read_text()
    assert json.loads(text) == obj
    assert list(json.loads(text)) == ["b", "a"]  # key order kept
    assert text == json.dumps(obj, indent=2) + "\n"


@pytest.mark.parametrize(
    ("bad", "error"), [({"x": object()}, TypeError), ({"x": float("nan")}, ValueError)]
)
def test_json_that_cannot_be_written_touches_nothing(
    tmp_path: Path, bad: dict[str, object], error: type[Exception]
) -> None:
    target = tmp_path / "m.json"
    target.write_text('{"ok": 1}')
    with pytest.raises(error):
        write_json_atomic(target, bad)
    assert target.read_text() == '{"ok": 1}'
    assert _listing(tmp_path) == ["m.json"]


def test_bad_mode_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "a"):  # type: ignore[arg-type]
        pass
    assert _listing(tmp_path) == []
    write_text_atomic(tmp_path / "new" / "sub" / "x.txt", "x")  # folders are created
    assert (tmp_path / "new" / "sub" / "x.txt").read_text() == "x"
    assert _listing(tmp_path / "new" / "sub") == ["x.txt"]
