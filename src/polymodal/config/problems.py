"""Validation problems of a raw config, one ``yaml.path: message`` each, gathered at once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) if loc else "(top level)"


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The field names allowed at ``loc`` (for 'unknown key' messages), when they can be found."""
    import typing

    current: Any = model
    for part in loc[:-1]:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *typing.get_args(annotation)]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return None


_NO_INPUT = object()


def _input_loc(loc: tuple[Any, ...], root: Any, err_type: str) -> tuple[tuple[Any, ...], bool]:
    """``loc`` without the tags pydantic adds for union members (``str``, ``list[str]``, ...).

    A tag is a part of ``loc`` that is not a key or index of the input ``root`` (the name of a
    missing field, last in ``loc``, is kept). Returns ``(loc, True when a tag was dropped)``.
    """
    if root is _NO_INPUT:
        return loc, False
    kept: list[Any] = []
    node = root
    for i, part in enumerate(loc):
        in_input = (isinstance(node, dict) and part in node) or (
            isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node)
        )
        if in_input:
            node = node[part]
        elif not (i == len(loc) - 1 and err_type == "missing"):
            continue  # a union member's tag
        kept.append(part)
    return tuple(kept), len(kept) < len(loc)


def format_validation_errors(
    exc: Any, model: type[BaseModel], prefix: tuple[Any, ...] = (), root: Any = _NO_INPUT
) -> list[str]:
    """One problem per error, as ``yaml.path: message``.

    With the validated input ``root``, the errors of a union's members (``str | list[str]``) are
    merged into one problem at the field's own path.
    """
    import difflib

    problems: list[str] = []
    union_at: dict[str, int] = {}  # path -> index in problems of its merged union problem
    for err in exc.errors(include_url=False):
        err_loc, tagged = _input_loc(tuple(err["loc"]), root, err["type"])
        loc = tuple(prefix) + err_loc
        path = _loc_to_path(loc)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err_loc)
            msg = "unknown key"
            if allowed:
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                if close:
                    msg += f"; did you mean {close[0]!r}?"
                msg += f" (allowed: {', '.join(allowed)})"
            problems.append(f"{path}: {msg}")
            continue
        msg = err["msg"]
        got = ""
        if "input" in err and err["type"] != "missing" and not isinstance(err["input"], dict):
            got = f" (got {err['input']!r})"
        if tagged and path in union_at:  # another member of the same union
            index = union_at[path]
            head, _, tail = problems[index].rpartition(got) if got else (problems[index], "", "")
            problems[index] = f"{head}; or {msg}{got}{tail}"
            continue
        if tagged:
            union_at[path] = len(problems)
        problems.append(f"{path}: {msg}{got}")
    return problems


def component_problems(kind: str, path: str, value: Any) -> list[str]:
    """Check a component's name against its registry and its params against the factory."""
    import pydantic

    from polymodal.errors import UnknownComponentError
    from polymodal.registry import ALL_REGISTRIES

    if value is None:
        return []
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return []  # structural problems are reported by the schema
    registry = ALL_REGISTRIES[kind]
    params = {k: v for k, v in value.items() if k != "name"}
    try:
        params_model = registry.params_model(value["name"])
    except UnknownComponentError as exc:
        return [f"{path}.name: unknown {kind} {exc.name!r} (allowed: {', '.join(exc.known)})"]
    try:
        params_model.model_validate(params)
    except pydantic.ValidationError as exc:
        return format_validation_errors(
            exc, params_model, prefix=tuple(path.split(".")), root=params
        )
    return []


def _model_problems(path: str, model: Any) -> list[str]:
    """Component problems of a model section at ``path`` (``model``, ``pretrain.towers.x``)."""
    if not isinstance(model, dict):
        return []
    problems: list[str] = []
    encoders = model.get("encoders")
    if isinstance(encoders, dict):
        for key, spec in encoders.items():
            problems += component_problems("encoder", f"{path}.encoders.{key}", spec)
    problems += component_problems("interaction", f"{path}.interaction", model.get("interaction"))
    problems += component_problems("fusion", f"{path}.fusion", model.get("fusion", "concat"))
    problems += component_problems("head", f"{path}.head", model.get("head"))
    problems += component_problems("decoder", f"{path}.decoder", model.get("decoder"))
    return problems


def all_component_problems(raw: dict[str, Any]) -> list[str]:
    """Component problems of every section of an experiment mapping (presets expanded)."""
    problems: list[str] = []
    data = raw.get("data", {"name": "synthetic"})
    problems += component_problems("dataset", "data", data if data is not None else {})
    problems += _model_problems("model", raw.get("model"))
    pretrain = raw.get("pretrain")
    if isinstance(pretrain, dict):
        problems += component_problems("objective", "pretrain.objective", pretrain.get("objective"))
        towers = pretrain.get("towers")
        if isinstance(towers, dict):
            for name, tower in towers.items():
                problems += _model_problems(f"pretrain.towers.{name}", tower)
    return problems
