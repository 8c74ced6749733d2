"""Checks of the ``manifest`` dataset's parameters that configs do not make (direct calls)."""

from __future__ import annotations

from typing import Any

from polymodal.data.schema import TaskType
from polymodal.data.splits import fraction_problem
from polymodal.errors import ConfigError, DataError


def check_fractions(val_fraction: float, test_fraction: float, where: str) -> None:
    """A DataError unless both fractions are in [0, 1) and sum to less than 1."""
    problem = fraction_problem(val_fraction, test_fraction)
    if problem is not None:
        raise DataError(problem, where=where, fix="use e.g. val_fraction: 0.1, test_fraction: 0.1")


def check_choices(task: Any, bad_rows: Any) -> None:
    """``task`` and ``bad_rows`` among their values (configs check this; direct calls may not)."""
    problems = [
        f"{key}: expected one of {', '.join(choices)}, got {value!r}"
        for key, value, choices in (
            ("task", task, ("multiclass", "multilabel", "regression", "none", "generation")),
            ("bad_rows", bad_rows, ("error", "skip")),
        )
        if value not in choices
    ]
    if problems:
        raise ConfigError(problems, source="manifest dataset parameters")


def resolve_task(
    task: TaskType | None, label: str | list[str] | None, classes: list[str | int] | None
) -> TaskType:
    """The task: ``task`` when given, else ``none`` without a label and ``multiclass`` with one.

    Raises:
        ConfigError: a label with task ``none``, a task with targets but no label, or
            ``classes`` without a label.
    """
    resolved: TaskType = task or ("none" if label is None else "multiclass")
    problems = []
    if label is None and resolved != "none":
        problems.append(
            f"label: a {resolved} task needs a label column; give label: COLUMN, or drop task "
            "(or set task: none) for an unlabelled dataset"
        )
    if label is not None and resolved == "none":
        problems.append("task: none reads no label; drop label (label: null), or pick a task")
    if label is None and classes is not None:
        problems.append("classes: an unlabelled dataset (label: null) has no classes; drop it")
    if problems:
        raise ConfigError(problems, source="manifest dataset parameters")
    return resolved
