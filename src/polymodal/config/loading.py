"""Reading a config: YAML files, dotted overrides, validation, and the resolved mapping of a run."""

from __future__ import annotations

from typing import Any

from polymodal.config.generation import GenerationConfig
from polymodal.config.presets import expand_presets
from polymodal.config.problems import all_component_problems, format_validation_errors
from polymodal.config.schema import ExperimentConfig
from polymodal.errors import ConfigError

# What PyYAML's constructors raise, besides YAMLError, on a well-formed document whose explicit
# tag cannot build its value (``!!int x``, ``!!int`` alone, ``!!bool x``, ``!!timestamp x``), or
# on nesting deeper than Python's recursion limit.
_YAML_VALUE_ERRORS = (ValueError, TypeError, LookupError, AttributeError, RecursionError)


def _yaml_value_problem(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "YAML is nested too deeply"
    return (
        f"a YAML value cannot be built ({type(exc).__name__}: {exc}); check explicit tags "
        "such as !!int, !!float or !!timestamp"
    )


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides to a raw config mapping (a new mapping is returned).

    Values are parsed as YAML (``3`` is an int, ``[a, b]`` a list, ``null`` None). A component
    given as a bare name (``fusion: concat``) is expanded so ``model.fusion.hidden_dim=8`` works.
    """
    import copy

    import yaml

    out = copy.deepcopy(raw)
    problems: list[str] = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            problems.append(
                f"override {item!r}: expected dotted.key=value, e.g. train.max_epochs=3"
            )
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            problems.append(
                f"override {item!r}: value is not valid YAML ({exc.__class__.__name__})"
            )
            continue
        except _YAML_VALUE_ERRORS as exc:
            problems.append(f"override {item!r}: {_yaml_value_problem(exc)}")
            continue
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str):  # a component given by name: expand to a mapping
                child = {"name": child}
            elif not isinstance(child, dict):
                if child is not None:
                    where = ".".join(parts[: i + 1])
                    problems.append(f"override {item!r}: {where} is not a mapping")
                    break
                child = {}
            node[part] = child
            node = child
        else:
            node[parts[-1]] = value
    if problems:
        raise ConfigError(problems, source="command line")
    return out


def parse_config(
    raw: Any, *, source: str = "<config>", check_components: bool = True
) -> ExperimentConfig:
    """Validate a raw mapping into an :class:`ExperimentConfig`, reporting every problem at once.

    Presets (``model: {preset: tfn, ...}``, ``pretrain: clip``) are expanded first
    (:func:`~polymodal.config.presets.expand_presets`); an unknown preset is reported alone.

    Raises:
        ConfigError: listing each problem with its YAML path (``train.max_epochs: ...``).
    """
    import pydantic

    if not isinstance(raw, dict):
        raise ConfigError(
            ["the file must hold a mapping (key: value pairs) at top level"], source=source
        )
    _load_config_plugins(raw, source)
    raw, problems = expand_presets(raw)
    if problems:
        raise ConfigError(problems, source=source)
    config: ExperimentConfig | None = None
    try:
        config = ExperimentConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems += format_validation_errors(exc, ExperimentConfig, root=raw)
    if check_components:
        problems += all_component_problems(raw)
    if problems or config is None:
        raise ConfigError(problems, source=source)
    return config


def _load_config_plugins(raw: dict[str, Any], source: str) -> None:
    """Import the modules of ``plugins:`` (a list of names) so their components can be checked;
    a value of another type is reported by the schema."""
    plugins = raw.get("plugins")
    if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
        from polymodal.plugins import load_plugins

        load_plugins(plugins, where=f"{source}: plugins")


def read_yaml(path: str | Any) -> dict[str, Any]:
    """Read a YAML mapping, turning file and syntax problems into a :class:`ConfigError`."""
    from pathlib import Path

    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"file not found: {p}"], source=str(p))
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(["the file is not UTF-8 text"], source=str(p)) from None
    except OSError as exc:
        raise ConfigError(
            [f"cannot read the file ({exc.strerror or exc})"], source=str(p)
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"YAML syntax error{where}: {problem}"], source=str(p)) from None
    except _YAML_VALUE_ERRORS as exc:  # after UnicodeDecodeError, itself a ValueError
        raise ConfigError([_yaml_value_problem(exc)], source=str(p)) from None
    return {} if raw is None else raw


def load_config(
    path: str | Any | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> ExperimentConfig:
    """Load an experiment from YAML (or from overrides alone when ``path`` is None).

    Presets are expanded before the overrides apply, so ``model.fusion.proj_dim=4`` changes a
    value of ``model: tfn``.
    """
    raw = read_yaml(path) if path is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(["the file must hold a mapping at top level"], source=str(path))
    expanded, problems = expand_presets(raw)
    raw = apply_overrides(raw if problems else expanded, overrides)
    source = str(path) if path is not None else "command line"
    if overrides and path is not None:
        source += " (with overrides)"
    return parse_config(raw, source=source)


_OMITTED_AT_DEFAULT = {"unimodal_loss_weight": 0.0, "decoder": None}
"""Model-section keys added after configs were first saved: left out of the saved mapping at
their default, so runs and benchmark cells saved before them keep their config (and key)."""


_TRAIN_OMITTED_AT_DEFAULT = {"loggers": [], "tracking_uri": None}
"""The same for the train section (also a pretraining stage's)."""


def _without_late_defaults(model: Any, omitted: dict[str, Any] = _OMITTED_AT_DEFAULT) -> Any:
    if isinstance(model, dict):
        for key, default in omitted.items():
            if key in model and model[key] == default:
                del model[key]
    return model


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """A plain mapping of the resolved config (what ``config.yaml`` of a run holds)."""
    out = config.model_dump(mode="json")
    if not out.get("plugins"):  # added later: runs saved before it keep their config
        out.pop("plugins", None)
    _without_late_defaults(out.get("model"))
    for train in (out.get("train"), (out.get("pretrain") or {}).get("train")):
        _without_late_defaults(train, _TRAIN_OMITTED_AT_DEFAULT)
    if out.get("pretrain") is None:  # added later: runs saved before it keep their config
        out.pop("pretrain", None)
    if out.get("generation") == GenerationConfig().model_dump(mode="json"):  # added later too
        out.pop("generation", None)
    pretrain = out.get("pretrain")
    if isinstance(pretrain, dict):
        for tower in (pretrain.get("towers") or {}).values():
            _without_late_defaults(tower)
    return out


def config_to_yaml(config: ExperimentConfig) -> str:
    import yaml

    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
