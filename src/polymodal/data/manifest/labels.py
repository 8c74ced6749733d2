"""Labels of manifest rows: raw values per row, the class set, target tensors."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import torch
from torch import Tensor

from polymodal.data.loaders.tabular import parse_number
from polymodal.data.manifest.errors import RowError
from polymodal.data.manifest.references import reference_texts
from polymodal.data.schema import TaskSpec, TaskType
from polymodal.errors import DataError


def name_of(value: Any, field: str) -> str:
    """A class name from a cell: strings (stripped) and integers (``3``, ``3.0``)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    raise RowError(field, f"expected a class name or integer label, got {value!r}")


_INTEGER = re.compile(r"-?[0-9]+")


def _sorted_names(names: Iterable[str]) -> list[str]:
    unique = set(names)
    if all(_INTEGER.fullmatch(n) for n in unique):  # ASCII integers: sorted by value
        return sorted(unique, key=lambda n: (Decimal(n), n))  # Decimal: no digit limit
    return sorted(unique)


_TRUE = {"1", "1.0", "true"}
_FALSE = {"0", "0.0", "false"}


def _flag(value: Any, field: str) -> float:
    if isinstance(value, bool | numbers.Real) and value in (0, 1):  # no float(): huge ints
        return float(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return 1.0 if value.strip().lower() in _TRUE else 0.0
    raise RowError(field, f"expected 0 or 1, got {value!r}")


class Labels:
    """Reads targets: raw label values per row, the class set, and target tensors.

    Task ``none`` (``label`` None) reads no column: every raw label and target is None.
    """

    def __init__(
        self, task: TaskType, label: str | list[str] | None, fixed: list[str] | None, where: str
    ) -> None:
        self.task = task
        self.columns = [] if label is None else [label] if isinstance(label, str) else list(label)
        if task in ("none", "generation"):
            self.from_names, self.names, self.fixed, self.index = False, None, False, {}
            if task == "generation" and len(self.columns) != 1:
                raise DataError(
                    f"a generation task reads one reference column, got {self.columns}",
                    where=where,
                    fix="give label: COLUMN (a text or a list of texts per row)",
                )
            return
        if not self.columns:
            raise DataError("label: give at least one column", where=where, fix="set label: COLUMN")
        if task == "multiclass" and len(self.columns) != 1:
            raise DataError(
                f"a multiclass label is one column, got {self.columns}",
                where=where,
                fix="give label: COLUMN, or use task: multilabel for several 0/1 columns",
            )
        self.from_names = task == "multilabel" and isinstance(label, str)
        self.names: list[str] | None = None
        if task == "regression" or (task == "multilabel" and not self.from_names):
            self.names = list(self.columns)  # one output per column
            if fixed is not None and list(fixed) != self.names:
                raise DataError(
                    f"the label set {list(fixed)} differs from the label columns {self.names}",
                    where=where,
                    fix="drop classes (each label column is a class), or pass a matching state",
                )
        elif fixed is not None:
            self.names = list(fixed)
        self.fixed = self.names is not None
        self.index = {n: i for i, n in enumerate(self.names or [])}

    def raw(self, row: dict[str, Any]) -> Any:
        """A row's label before encoding: a name, a tuple of names, a tuple of floats, None
        (task ``none``), or the reference texts (task ``generation``)."""
        if self.task == "none":
            return None
        if self.task == "generation":
            return reference_texts(row[self.columns[0]], self.columns[0])
        if self.task == "multilabel" and self.from_names:
            value = self._names_of(row[self.columns[0]])
        else:
            for c in self.columns:
                if row[c] is None:
                    raise RowError(c, "the label is empty")
            if self.task == "multiclass":
                value = name_of(row[self.columns[0]], self.columns[0])
            elif self.task == "multilabel":
                value = tuple(_flag(row[c], c) for c in self.columns)
            else:
                value = tuple(self._number(row[c], c) for c in self.columns)
        if self.fixed and self.task != "regression" and not self.from_flags:
            unknown = [
                n for n in ([value] if isinstance(value, str) else value) if n not in self.index
            ]
            if unknown:
                raise RowError(
                    self.columns[0],
                    f"unknown label {unknown[0]!r} (known: {', '.join(self.names or [])})",
                )
        return value

    @property
    def from_flags(self) -> bool:
        return self.task == "multilabel" and not self.from_names

    def _names_of(self, cell: Any) -> tuple[str, ...]:
        column = self.columns[0]
        if cell is None:
            return ()
        if isinstance(cell, str):
            parts: list[Any] = [p for p in cell.split(";") if p.strip()]
        elif isinstance(cell, list | tuple):
            parts = list(cell)
        else:
            raise RowError(column, f"expected a list or ';'-separated names, got {cell!r}")
        return tuple(dict.fromkeys(name_of(p, column) for p in parts))

    @staticmethod
    def _number(value: Any, column: str) -> float:
        try:
            return parse_number(value, column)
        except DataError as exc:
            raise RowError(column, exc.what) from None

    def learn(self, raws: Iterable[Any], where: str) -> None:
        """Learn the class names from the rows' raw labels, unless they were fixed."""
        if self.task in ("none", "generation"):
            return
        if not self.fixed:
            values = list(raws)
            flat = [n for v in values for n in ((v,) if isinstance(v, str) else v)]
            self.names = _sorted_names(flat)
            self.index = {n: i for i, n in enumerate(self.names)}
        least = {"multiclass": 2, "multilabel": 1, "regression": 1}[self.task]
        if len(self.names or []) < least:
            raise DataError(
                f"a {self.task} task needs at least {least} classes, found {self.names}",
                where=where,
                fix="check the label column, or the rows left out as bad",
            )

    def target(self, value: Any) -> Tensor | None:
        """The target tensor of a raw label; None for ``none`` and ``generation`` (whose
        references travel as ``Sample.references``)."""
        if self.task in ("none", "generation"):
            return None
        if self.task == "multiclass":
            return torch.tensor(self.index[value], dtype=torch.long)  # []
        if self.from_names:
            out = torch.zeros(len(self.index), dtype=torch.float32)  # [L]
            out[[self.index[n] for n in value]] = 1.0
            return out
        return torch.tensor(value, dtype=torch.float32)  # [L] flags or [K] values

    def task_spec(self) -> TaskSpec:
        names = tuple(self.names or ())
        if self.task in ("none", "generation"):
            return TaskSpec(self.task, 0)
        if self.task == "regression":
            return TaskSpec("regression", len(names), target_names=names)
        return TaskSpec(self.task, len(names), class_names=names)
