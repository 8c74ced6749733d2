"""Content digests: canonical JSON is order-independent, files hash their bytes (remembered
until they change), folders hash their files' relative paths and contents."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from polymodal.digest import canonical, digest_json, file_digest, folder_digest
from polymodal.errors import DataError


def test_canonical_json_digest_ignores_key_order_and_container_type() -> None:
    assert digest_json({"b": 1, "a": [1, 2]}) == digest_json({"a": (1, 2), "b": 1})
    assert digest_json({"a": 1}) != digest_json({"a": 1.5})
    expected = hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert digest_json({"b": 1, "a": [1, 2]}) == expected
    with pytest.raises(DataError, match="cannot fingerprint a value of type object"):
        canonical({"x": object()}, "extra")


def test_file_digest_is_the_sha256_of_the_bytes_and_follows_changes(tmp_path: Path) -> None:
    path = tmp_path / "clip.bin"
    path.write_bytes(b"abc")
    assert file_digest(path) == hashlib.sha256(b"abc").hexdigest()
    path.write_bytes(b"abcd")
    os.utime(path, ns=(1, 10**18))  # a new mtime: the remembered digest is not reused
    assert file_digest(path) == hashlib.sha256(b"abcd").hexdigest()


def test_folder_digest_covers_names_and_contents_not_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "sub" / "b.txt").write_text("y")
    first = folder_digest(tmp_path)
    (tmp_path / ".lock").write_text("ignored")
    assert folder_digest(tmp_path) == first
    (tmp_path / "a.txt").rename(tmp_path / "c.txt")
    assert folder_digest(tmp_path) != first
    assert folder_digest(tmp_path / "c.txt") == hashlib.sha256(b"x").hexdigest()
