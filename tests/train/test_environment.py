"""Tests of polymodal.train.environment: what env.json records."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import pytest
import torch

from polymodal.train.environment import PACKAGES, collect_environment, git_revision

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder git will not search above (so an enclosing repository cannot leak in)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def _make_repo(folder: Path) -> str:
    """A one-commit repository; returns the commit read from .git files, not from rev-parse."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, timeout=30)

    git("init", "-q")
    (folder / "a.txt").write_text("a")
    git("add", "a.txt")
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-qm",
        "x",
    )
    head = (folder / ".git" / "HEAD").read_text().strip()
    assert head.startswith("ref: ")
    return (folder / ".git" / head.removeprefix("ref: ")).read_text().strip()


def test_environment_records_versions_seed_and_time(isolated: Path) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    env = collect_environment(1234, cwd=isolated)
    after = datetime.now(timezone.utc)
    assert env["seed"] == 1234
    stamp = datetime.fromisoformat(env["time_utc"])
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after
    assert env["python"]["version"] == platform.python_version()
    assert env["python"]["executable"] == sys.executable
    assert list(env["packages"]) == list(PACKAGES)
    for name in ("torch", "lightning", "numpy", "scikit-learn", "pydantic", "polymodal"):
        assert env["packages"][name] == metadata.version(name)
    assert env["torch"]["num_threads"] == torch.get_num_threads()
    assert env["torch"]["cuda_available"] == torch.cuda.is_available()
    assert len(env["torch"]["cuda_devices"]) == env["torch"]["cuda_device_count"]
    assert env["git"] == {"revision": None, "dirty": None}  # not a repository: not an error
    assert json.loads(json.dumps(env, allow_nan=False)) == env  # env.json is strict JSON


def test_missing_package_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polymodal.train.environment.PACKAGES", ("torch", "no-such-dist-xyz"))
    env = collect_environment(0)
    assert env["packages"] == {"torch": metadata.version("torch"), "no-such-dist-xyz": None}


@needs_git
def test_git_revision_and_dirty_flag(isolated: Path) -> None:
    commit = _make_repo(isolated)
    assert len(commit) == 40
    assert git_revision(isolated) == {"revision": commit, "dirty": False}
    (isolated / "untracked.txt").write_text("u")
    assert git_revision(isolated)["dirty"] is False  # untracked files do not count
    (isolated / "a.txt").write_text("changed")
    assert git_revision(isolated) == {"revision": commit, "dirty": True}
    assert collect_environment(5, cwd=isolated)["git"]["revision"] == commit


@needs_git
def test_git_revision_of_current_directory(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commit = _make_repo(isolated)
    monkeypatch.chdir(isolated)
    assert collect_environment(0)["git"]["revision"] == commit


def test_git_missing_is_none(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated))  # no git executable on PATH
    assert git_revision(isolated) == {"revision": None, "dirty": None}
