"""The state of a manifest build: class names and tokenizer states, checked and made.

``{"version": 1, "task": TASK, "class_names": [NAME, ...] | None, "tokenizers": {MODALITY:
TOKENIZER_STATE}, "derived": {MODALITY: RECORD}}``: the class names (None for ``regression``
and ``none``), every text modality's tokenizer state
(:meth:`~polymodal.data.transforms.text.Tokenizer.state_dict`) and, only when some modality
has ``derive:``, how each was derived
(:meth:`~polymodal.data.manifest.derived.DerivedTextField.record`: deriver, parameters, source
column, cache fingerprint and folder).
"""

from __future__ import annotations

from typing import Any

from polymodal.data.manifest.derived import derived_records
from polymodal.data.manifest.fields import Field, TextField
from polymodal.data.manifest.labels import Labels
from polymodal.errors import DataError

STATE_VERSION = 1


def check_state(state: dict[str, Any] | None, task: str, where: str) -> dict[str, Any] | None:
    """``state`` when it is a manifest state of ``task`` (None when empty), else a DataError."""
    if not state:
        return None
    fix = "pass the state saved by a manifest dataset with the same task, unchanged"
    if not isinstance(state, dict):
        raise DataError(
            f"the state is a {type(state).__name__}, not a mapping", where=where, fix=fix
        )
    if state.get("version") != STATE_VERSION or state.get("task") != task:
        raise DataError(
            f"the state is not a manifest state for task {task!r} "
            f"(version {state.get('version')!r}, task {state.get('task')!r})",
            where=where,
            fix=fix,
        )
    names, tokenizers = state.get("class_names"), state.get("tokenizers", {})
    names_ok = names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names))
    tokenizers_ok = isinstance(tokenizers, dict) and all(
        isinstance(t, dict) for t in tokenizers.values()
    )
    if not (names_ok and tokenizers_ok):
        raise DataError(
            "the state is malformed: class_names must be a list of names (or null) and "
            "tokenizers a mapping of tokenizer states",
            where=where,
            fix=fix,
        )
    return state


def fixed_classes(
    classes: list[str | int] | None, state: dict[str, Any] | None, where: str
) -> list[str] | None:
    """The fixed label set: from the state (which wins), from ``classes``, or None (learnt)."""
    given = None if classes is None else [str(c) for c in classes]
    if state is None:
        return given
    saved = state.get("class_names")
    if given is not None and given != saved:
        raise DataError(
            f"classes {given} differ from the class names in the state {saved}",
            where=where,
            fix="drop classes, or pass a state built with the same classes",
        )
    return saved


def new_state(task: str, labels: Labels, fields: dict[str, Field]) -> dict[str, Any]:
    """The state of a finished build (see the module docs)."""
    tokenizers = {
        n: f.tokenizer.state_dict()
        for n, f in fields.items()
        if isinstance(f, TextField) and f.tokenizer is not None
    }
    class_names = None if task in ("regression", "none", "generation") else list(labels.names or [])
    state = {
        "version": STATE_VERSION,
        "task": task,
        "class_names": class_names,
        "tokenizers": tokenizers,
    }
    derived = derived_records(fields)
    if derived:  # how each derived modality was computed, recorded with the run
        state["derived"] = derived
    return state
