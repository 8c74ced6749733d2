"""Text descriptions of registered components for ``polymodal components`` and ``datasets show``."""

from __future__ import annotations

import inspect

from polymodal.errors import PolymodalError
from polymodal.registry import ALL_REGISTRIES


def list_components(kind: str | None = None) -> str:
    """Every registered component of ``kind`` (or of all kinds), one line each with its summary."""
    if kind is not None and kind not in ALL_REGISTRIES:
        raise PolymodalError(
            f"unknown component kind {kind!r}", fix=f"use one of: {', '.join(ALL_REGISTRIES)}"
        )
    kinds = [kind] if kind else list(ALL_REGISTRIES)
    lines: list[str] = []
    for k in kinds:
        registry = ALL_REGISTRIES[k]
        lines.append(f"{k}:")
        for name in registry.names():
            lines.append(f"  {name:<20} {registry.entry(name).summary}")
    return "\n".join(lines)


def describe_component(kind: str, name: str) -> str:
    """The docstring and user parameters (type and default) of one component."""
    registry = ALL_REGISTRIES[kind]
    entry = registry.entry(name)
    doc = inspect.getdoc(entry.factory) or "(no description)"
    lines = [f"{kind} {name}", "", doc, "", "parameters:"]
    for pname, field in registry.params_model(name).model_fields.items():
        default = "required" if field.is_required() else f"default {field.default!r}"
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        lines.append(f"  {pname}: {annotation.replace('typing.', '')} ({default})")
    return "\n".join(lines)
