"""Text descriptions of registered components and presets for ``polymodal components`` and
``datasets show``.

``preset`` is listed as a kind next to the registries' kinds: ``polymodal components preset``
lists the presets of :mod:`polymodal.presets` (one line each), ``polymodal components preset
NAME`` prints a preset's YAML. Listing presets reads YAML files only (no torch).
"""

from __future__ import annotations

import inspect
from typing import Any

from polymodal.errors import PolymodalError
from polymodal.registry import ALL_REGISTRIES

PRESET = "preset"
"""The kind name of presets in ``polymodal components``."""


def _kinds() -> list[str]:
    return [*ALL_REGISTRIES, PRESET]


def _check_kind(kind: str) -> None:
    if kind not in _kinds():
        raise PolymodalError(
            f"unknown component kind {kind!r}", fix=f"use one of: {', '.join(_kinds())}"
        )


def list_presets() -> str:
    """Every preset, one line each: ``  NAME  description``."""
    from polymodal.presets import preset_description, preset_names

    return "\n".join(f"  {name:<20} {preset_description(name)}" for name in preset_names())


def list_components(kind: str | None = None) -> str:
    """Every registered component of ``kind`` (or of all kinds, presets last), one line each
    with its summary."""
    if kind is not None:
        _check_kind(kind)
    kinds = [kind] if kind else _kinds()
    lines: list[str] = []
    for k in kinds:
        lines.append(f"{k}:")
        if k == PRESET:
            lines.append(list_presets())
            continue
        registry = ALL_REGISTRIES[k]
        for name in registry.names():
            lines.append(f"  {name:<20} {registry.entry(name).summary}")
    return "\n".join(lines)


def show_component(kind: str, name: str) -> str:
    """One component described (:func:`describe_component`), or a preset's YAML as it is."""
    _check_kind(kind)
    if kind == PRESET:
        from polymodal.presets import preset_names, preset_text

        if name not in preset_names():
            raise PolymodalError(
                f"unknown preset {name!r}", fix=f"use one of: {', '.join(preset_names())}"
            )
        return preset_text(name).rstrip("\n")
    return describe_component(kind, name)


def describe_component(kind: str, name: str) -> str:
    """The docstring and user parameters (type and default) of one component."""
    registry = ALL_REGISTRIES[kind]
    entry = registry.entry(name)
    doc = inspect.getdoc(entry.factory) or "(no description)"
    lines = [f"{kind} {name}", "", doc, "", "parameters:"]
    for pname, field in registry.params_model(name).model_fields.items():
        default = "required" if field.is_required() else f"default {field.default!r}"
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        lines.append(f"  {pname}: {annotation.replace('typing.', '')}{_range(field)} ({default})")
    return "\n".join(lines)


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _range(field: Any) -> str:
    """The range of a parameter's annotation, e.g. ``, >= 1`` (empty without one)."""
    found = [
        f"{sign} {getattr(meta, key)}"
        for meta in field.metadata
        for key, sign in _BOUNDS
        if getattr(meta, key, None) is not None
    ]
    return f", {' and '.join(found)}" if found else ""
