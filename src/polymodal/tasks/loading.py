"""Finding and loading task files: the built-in ones and the user's own folders alike.

Tasks are looked up by name in, first to last: the folders given (``--tasks-dir``), the folders
of ``$POLYMODAL_TASKS`` (``os.pathsep``-separated), then the built-in folder; a path to a YAML file
works as well. A user's task with a built-in name shadows it. Loading validates the file
(:func:`polymodal.tasks.spec.task_problems`) and computes the sha256 of its bytes, recorded with
every result, so a result names the exact task text it came from.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydantic

from polymodal.errors import ConfigError, PolymodalError
from polymodal.tasks.spec import TaskSpec, task_problems

BUILTIN_DIR = Path(__file__).with_name("builtin")
ENV_DIRS = "POLYMODAL_TASKS"


@dataclass(frozen=True)
class LoadedTask:
    """A validated task: its spec, file, the file's sha256 and the folder paths are relative to."""

    spec: TaskSpec
    path: Path
    sha256: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def builtin(self) -> bool:
        return self.path.parent.resolve() == BUILTIN_DIR.resolve()


def task_dirs(extra: Sequence[str | Path] = ()) -> list[Path]:
    """The folders searched for task files, first to last."""
    env = [p for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p]
    return [*map(Path, extra), *map(Path, env), BUILTIN_DIR]


def parse_task(text: str, source: str) -> TaskSpec:
    """The validated spec of a task file's text; every problem in one :class:`ConfigError`."""
    import yaml

    from polymodal.config.problems import format_validation_errors

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"YAML syntax error: {exc}"], source=source) from None
    if not isinstance(raw, dict):
        raise ConfigError(["a task file is a YAML mapping"], source=source)
    try:
        spec = TaskSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ConfigError(
            format_validation_errors(exc, TaskSpec, root=raw), source=source
        ) from None
    problems = task_problems(spec)
    if problems:
        raise ConfigError(problems, source=source)
    return spec


def load_task_file(path: str | Path) -> LoadedTask:
    """Load and validate one task file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"file not found: {path}"], source=str(path))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], source=str(path)) from None
    return LoadedTask(parse_task(text, str(path)), path, hashlib.sha256(data).hexdigest())


def _task_files(dirs: Sequence[Path]) -> dict[str, Path]:
    """Task name (the file's ``name:``, else its stem) -> file, earlier folders winning."""
    import yaml

    found: dict[str, Path] = {}
    for folder in reversed(dirs):  # later folders first, so earlier ones overwrite
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, OSError, UnicodeDecodeError):
                raw = None
            name = raw.get("name") if isinstance(raw, dict) else None
            found[str(name) if name else path.stem] = path
    return found


def find_task(name: str, dirs: Sequence[str | Path] = ()) -> LoadedTask:
    """The task named ``name`` (or the task file at path ``name``), validated."""
    if name.endswith((".yaml", ".yml")) or Path(name).is_file():
        return load_task_file(name)
    files = _task_files(task_dirs(dirs))
    if name not in files:
        raise PolymodalError(
            f"unknown task {name!r}",
            fix=f"use one of: {', '.join(sorted(files))}, or a path to a task file",
        )
    return load_task_file(files[name])


def list_tasks(dirs: Sequence[str | Path] = ()) -> list[tuple[str, Path]]:
    """Every task found (name, file), sorted by name."""
    return sorted(_task_files(task_dirs(dirs)).items())
