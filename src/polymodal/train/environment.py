"""The run environment recorded in a run directory's ``env.json``.

What is needed to tell whether two runs can be compared, or to reproduce one: interpreter,
platform, package versions, torch threads and accelerators, the git revision of the code, the
seed, the machine and the time. Nothing here changes any state (no thread or seed is set).
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

__all__ = ["PACKAGES", "collect_environment", "git_revision", "package_version"]

#: Distributions whose versions are recorded (``None`` when not installed).
PACKAGES = (
    "polymodal",
    "torch",
    "lightning",
    "torchmetrics",
    "transformers",
    "safetensors",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "pydantic",
)
GIT_TIMEOUT_S = 5.0


def _git(args: list[str], cwd: Path) -> str | None:
    """Stdout of ``git ARGS`` run in ``cwd``, or ``None`` if git is missing, fails or hangs."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):  # no git executable, unreadable cwd, hung git
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_revision(cwd: str | Path | None = None) -> dict[str, Any]:
    """The git commit checked out in ``cwd`` (default: the current directory).

    Returns:
        ``{"revision": sha or None, "dirty": bool or None}``: ``None`` when ``cwd`` is not in a
        git repository or git is not installed, which is not an error. ``dirty`` is True when
        tracked files differ from the commit (untracked files are ignored).
    """
    where = Path.cwd() if cwd is None else Path(cwd)
    revision = _git(["rev-parse", "--verify", "HEAD"], where)
    if revision is None:
        return {"revision": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    return {"revision": revision, "dirty": None if status is None else bool(status)}


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _package_versions() -> dict[str, str | None]:
    return {name: package_version(name) for name in PACKAGES}


def _torch_info() -> dict[str, Any]:
    """Threads, determinism flag and accelerators as torch sees them.

    The CUDA device names initialise CUDA in this process (when a GPU is present), so call
    :func:`collect_environment` from the training process, not before forking DDP workers.
    """
    cuda = torch.cuda.is_available()
    count = torch.cuda.device_count() if cuda else 0
    mps = getattr(torch.backends, "mps", None)
    return {
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "cuda_device_count": count,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(count)],
        "mps_available": bool(mps is not None and mps.is_available()),
    }


def collect_environment(seed: int, *, cwd: str | Path | None = None) -> dict[str, Any]:
    """Everything ``env.json`` records about the run's environment; JSON-serialisable.

    Args:
        seed: the run's seed, recorded as is.
        cwd: folder whose git revision is recorded (default: the current directory).

    Returns:
        A dict with ``seed``, ``time_utc`` (ISO 8601, UTC), ``hostname``, ``python``
        (version, implementation, executable), ``platform`` (``platform.platform()``, system,
        machine, processor count), ``packages`` (distribution name -> version or None),
        ``torch`` (threads, determinism, CUDA / MPS availability and device names) and ``git``
        (revision and dirty flag, both None outside a repository or without git).

    Example:
        >>> env = collect_environment(seed=7)
        >>> env["seed"], sorted(env)[:3]
        (7, ['git', 'hostname', 'packages'])
    """
    return {
        "seed": seed,
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "platform": platform.platform(),
            "system": platform.system(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "packages": _package_versions(),
        "torch": _torch_info(),
        "git": git_revision(cwd),
    }
