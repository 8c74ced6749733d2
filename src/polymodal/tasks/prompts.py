"""From a task's template and a record to the chat a model under test receives.

A template's text is kept verbatim; each ``{field}`` placeholder becomes the field's text, or, for
an image field, the image itself at that place in the message (a chat part). ``{choices}`` is the
lettered list of choices (``A. red`` lines) and ``{choice_list}`` the comma-separated one. Few-shot
examples come first, each a user turn (the same template, the example's fields) and an assistant
turn (its answer), after the optional system message.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polymodal.adapters.base import ImageInput, Message, Part, Request
from polymodal.tasks.sources import Record
from polymodal.tasks.spec import TaskSpec


def lettered(choices: Sequence[str]) -> str:
    """``A. first\\nB. second``: the choices as lettered lines."""
    return "\n".join(f"{string.ascii_uppercase[i]}. {c}" for i, c in enumerate(choices))


def render_parts(template: str, values: dict[str, Any]) -> tuple[Part, ...]:
    """The template filled with ``values``: text parts, and image parts where images go."""
    parts: list[Part] = []
    for literal, name, spec, _ in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if name is None:
            continue
        value = values[name]
        if isinstance(value, ImageInput):
            parts.append(value)
        else:
            text = ", ".join(value) if isinstance(value, list) else value
            parts.append(format(text, spec or ""))
    merged: list[Part] = []
    for part in parts:  # adjacent texts as one part
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)
    return tuple(merged)


def sample_choices(spec: TaskSpec, record: Record) -> list[str]:
    """The choices of a multiple-choice record (the task's list, or the record's field)."""
    if spec.output.choices is not None:
        return list(spec.output.choices)
    if spec.output.choices_field is not None:
        return list(record.fields[spec.output.choices_field])
    return []


def _values(fields: dict[str, Any], choices: Sequence[str]) -> dict[str, Any]:
    return {**fields, "choices": lettered(choices), "choice_list": ", ".join(choices)}


def _example_fields(
    fields: dict[str, Any], kinds: dict[str, str], base_dir: Path, index: int
) -> dict[str, Any]:
    out = dict(fields)
    for name, value in fields.items():
        if kinds.get(name) == "image":
            out[name] = ImageInput(path=str(base_dir / value), source=f"few_shot[{index}]")
    return out


def build_request(
    spec: TaskSpec,
    record: Record,
    template: int,
    kinds: dict[str, str],
    base_dir: Path,
) -> Request:
    """The chat of ``record`` under template number ``template`` (few-shot turns first)."""
    text = spec.prompt.templates[template]
    choices = sample_choices(spec, record)
    messages: list[Message] = []
    if spec.prompt.system:
        messages.append(Message("system", (spec.prompt.system,)))
    for i, example in enumerate(spec.few_shot):
        fields = _example_fields(example.fields, kinds, base_dir, i)
        messages.append(Message("user", render_parts(text, _values(fields, choices))))
        messages.append(Message("assistant", (example.answer,)))
    messages.append(Message("user", render_parts(text, _values(record.fields, choices))))
    return Request(record.id, tuple(messages))
