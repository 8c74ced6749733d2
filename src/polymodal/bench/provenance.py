"""Which code trained a benchmark's kept cells: a resumed benchmark may mix code versions.

A finished cell is kept while its config hash is unchanged (:meth:`ResultsStore.sync`). The hash
covers the cell's config and evaluation options, not the code: a benchmark directory resumed
after an upgrade of polymodal (or a new commit of the code it runs from) keeps the cells trained
before, and a fresh run of the same spec may give other figures for them. Each run directory's
``env.json`` records the polymodal version and the git revision of the training process's
working directory (:func:`polymodal.train.environment.collect_environment`); this module compares
them with the current ones so that ``polymodal bench`` can say which kept cells came from other
code. It reports, it never resets: retraining is the user's choice (``--rerun``, or deleting a
cell's run directory). A revision is a commit: a cell trained from uncommitted changes at the
current commit is not told apart, and a new commit that changed nothing the cells ran is still
named (the note says the code may differ, not that it does).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from polymodal.rundir.layout import ENV_FILE
from polymodal.train.environment import git_revision, package_version

__all__ = ["CodeIdentity", "current_code", "kept_from_other_code", "other_code_note"]


@dataclass(frozen=True)
class CodeIdentity:
    """The code a run was trained by: polymodal's version and the git revision (either may be
    None: not installed as a distribution, not in a git repository, or not recorded)."""

    version: str | None
    revision: str | None

    def differs_from(self, other: CodeIdentity) -> bool:
        """True when a recorded field of both differs (an unknown field proves nothing)."""
        pairs = ((self.version, other.version), (self.revision, other.revision))
        return any(a is not None and b is not None and a != b for a, b in pairs)

    def __str__(self) -> str:
        version = f"polymodal {self.version or '(unknown version)'}"
        return version if self.revision is None else f"{version} at git {self.revision[:7]}"


def current_code(cwd: str | Path | None = None) -> CodeIdentity:
    """The code of this process, as a cell trained now would record it in ``env.json``."""
    return CodeIdentity(package_version("polymodal"), git_revision(cwd)["revision"])


def recorded_code(run_dir: Path) -> CodeIdentity | None:
    """The code recorded in ``run_dir/env.json``, or None when the file is missing or unreadable
    (a run of an older polymodal, or a directory copied without it)."""
    try:
        env = json.loads((run_dir / ENV_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(env, dict):
        return None
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    git = env.get("git") if isinstance(env.get("git"), dict) else {}
    return CodeIdentity(packages.get("polymodal"), git.get("revision"))


def kept_from_other_code(
    run_dirs: Iterable[tuple[str, Path]], now: CodeIdentity
) -> dict[str, CodeIdentity]:
    """The kept cells trained by other code than ``now``.

    Args:
        run_dirs: ``(cell key, run directory)`` of every kept (finished) cell.
        now: the current code (:func:`current_code`).

    Returns:
        cell key -> the code recorded in its ``env.json``, for the cells whose recorded version
        or revision differs from ``now``'s; cells without a readable ``env.json`` are left out.
    """
    out: dict[str, CodeIdentity] = {}
    for key, run_dir in run_dirs:
        recorded = recorded_code(run_dir)
        if recorded is not None and recorded.differs_from(now):
            out[key] = recorded
    return out


def other_code_note(other: dict[str, CodeIdentity], now: CodeIdentity) -> str | None:
    """One line for the progress display about the cells of :func:`kept_from_other_code`, or
    None when there are none."""
    if not other:
        return None
    counts = Counter(str(code) for code in other.values())
    sources = "; ".join(f"{n} by {code}" for code, n in counts.most_common())
    cells = "cell was" if len(other) == 1 else "cells were"
    return (
        f"{len(other)} kept {cells} trained by another version of the code ({sources}; now "
        f"{now}): if the change touched training or evaluation, a fresh run gives other figures "
        "for them. --rerun retrains every cell; deleting a cell's run directory retrains that cell."
    )
