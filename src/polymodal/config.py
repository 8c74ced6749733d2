"""Experiment configuration: pydantic schemas, YAML loading, dotted overrides.

A config file::

    seed: 0
    data: {name: synthetic, task: synergy, n: 3000}
    model:
      encoders: {image: cnn, audio: {name: audio_conv, hidden_dim: 64}}
      fusion: {name: concat}
    train: {max_epochs: 10, batch_size: 64, lr: 0.001}
    eval: {split: test}

Components (``data``, each encoder, ``interaction``, ``fusion``, ``head``) are written as
``{name: NAME, **params}`` or just ``NAME``; their parameters are validated against the registered
factory's signature. Every problem is reported at once, with its YAML path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ComponentSpec(BaseModel):
    """A registered component by name plus its parameters (the other keys)."""

    model_config = ConfigDict(extra="allow")

    name: str

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def params(self) -> dict[str, Any]:
        """The component's own parameters: every key except ``name``."""
        return dict(self.model_extra or {})


class DataConfig(ComponentSpec):
    """The dataset: a registered name (``synthetic``, ``digits-av``, ``manifest``) and params."""

    name: str = "synthetic"


class ModelConfig(_Strict):
    """Encoders (one per used modality), optional interaction, fusion, and head.

    Only modalities that have an encoder are used, so a unimodal baseline is a config with one
    encoder. ``head`` None picks the head that matches the dataset's task.
    """

    encoders: dict[str, ComponentSpec] = Field(min_length=1)
    interaction: ComponentSpec | None = None
    fusion: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="concat"))
    head: ComponentSpec | None = None
    unimodal_loss_weight: float = Field(0.0, ge=0.0)
    """w > 0 gives each encoder a linear classifier of the task on its own features, whose
    losses (weighted by w) are added during training, against modality competition (see
    :class:`polymodal.models.multimodal.MultimodalModel`); 0 (default): none."""


class EarlyStoppingConfig(_Strict):
    """Stop when ``monitor`` has not improved for ``patience`` validation rounds."""

    monitor: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(_Strict):
    """The training loop. ``accelerator``, ``devices``, ``strategy`` and ``num_nodes`` are passed
    to Lightning as they are, so ``devices: 2, strategy: ddp`` trains data-parallel."""

    max_epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    scheduler: Literal["none", "cosine", "step"] = "none"
    warmup_epochs: int = Field(0, ge=0)
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    early_stopping: EarlyStoppingConfig | None = None
    gradient_clip_val: float | None = Field(None, gt=0.0)
    precision: Literal["32-true", "64-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    accelerator: str = "auto"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    deterministic: bool = True
    progress: bool = True
    feature_cache: bool | str = False
    """Encode the splits once with every frozen encoder (parameters, none trainable) and train
    on the stored features: True stores them under ``<run_dir>/feature_cache``, a string is a
    folder of your own (shared between runs); False (default) encodes every step."""


class EvalConfig(_Strict):
    """Evaluation: split, metric names (None: the task's defaults) and batch size."""

    split: str = "test"
    metrics: list[str] | None = None
    batch_size: int | None = Field(None, ge=1)


class TransferConfig(_Strict):
    """How the supervised stage of a two-stage run uses the pretrained encoders.

    ``linear_probe`` freezes them (no gradient, eval mode; with ``train.feature_cache`` their
    features are computed once) and trains fusion and head only; ``finetune`` trains everything,
    starting from the pretrained weights. ``label_fraction`` keeps that share of the labelled
    training rows for the supervised stage (stratified by class, seeded by the experiment's
    seed): the few-label setting. Pretraining always uses every training row, labels unused.
    """

    mode: Literal["linear_probe", "finetune"] = "linear_probe"
    label_fraction: float = Field(1.0, gt=0.0, le=1.0)


class PretrainConfig(_Strict):
    """Contrastive pretraining of two towers (stage 1; see ``polymodal.train.pretrain``).

    ``objective`` is a registered pretraining objective (``contrastive``: CLIP's symmetric
    InfoNCE; ``moco``: cross-modal momentum contrast) with its parameters; ``towers`` holds one
    model section per modality, named after it, with a single encoder of that modality and a
    ``retrieval`` head. ``preset: clip`` (or just ``pretrain: clip``) starts from a preset of
    ``polymodal/models/presets`` and merges the other keys into it (mappings key by key).
    ``train`` is the training loop of this stage (default: the experiment's ``train``);
    ``transfer`` says how the supervised stage uses the encoders.
    """

    objective: ComponentSpec
    towers: dict[str, ModelConfig] = Field(min_length=2, max_length=2)
    train: TrainConfig | None = None
    transfer: TransferConfig = Field(default_factory=TransferConfig)

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"preset": value}
        if not isinstance(value, dict) or "preset" not in value:
            return value
        from polymodal.models.preset import load_preset  # light: YAML files of the package

        rest = {k: v for k, v in value.items() if k != "preset"}
        name = value["preset"]
        if not isinstance(name, str):
            raise ValueError(f"preset: expected a preset name, got {name!r}")
        from polymodal.errors import ConfigError

        try:
            base = load_preset(name)
        except ConfigError as err:
            raise ValueError("; ".join(err.problems)) from None
        if "towers" not in base:
            raise ValueError(f"preset {name!r} is a supervised model section, not a pair of towers")
        return _deep_merge(base, rest)

    @property
    def modalities(self) -> list[str]:
        """The two towers' modalities, in order."""
        return list(self.towers)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in: mappings key by key, anything else replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class ExperimentConfig(_Strict):
    """A whole experiment: what ``polymodal train`` reads.

    ``model`` alone: supervised training. ``pretrain`` alone: contrastive pretraining of two
    towers (evaluated by retrieval). Both: a two-stage run, pretraining then the supervised
    model, whose encoders of the towers' modalities start from the pretrained towers' encoders
    (``pretrain.transfer``); a ``model`` without ``encoders`` takes the towers' encoders.
    """

    name: str | None = None
    plugins: list[str] = Field(default_factory=list)
    """Modules imported before the config is checked, so the components they register can be
    named (see :mod:`polymodal.plugins`); saved with the run."""
    seed: int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig | None = None
    pretrain: PretrainConfig | None = None
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="before")
    @classmethod
    def _encoders_from_towers(cls, value: Any) -> Any:
        """A two-stage ``model`` without ``encoders`` takes the towers' encoders."""
        if not isinstance(value, dict):
            return value
        model, pretrain = value.get("model"), value.get("pretrain")
        if isinstance(model, dict) and "encoders" not in model and pretrain is not None:
            try:
                towers = PretrainConfig.model_validate(pretrain).towers
            except Exception:  # reported by the field's own validation
                return value
            encoders = {m: t.encoders[m].model_dump() for m, t in towers.items() if m in t.encoders}
            value = {**value, "model": {**model, "encoders": encoders}}
        return value

    @model_validator(mode="after")
    def _stages(self) -> ExperimentConfig:
        if self.model is None and self.pretrain is None:
            raise ValueError("give `model` (supervised), `pretrain` (contrastive), or both")
        if self.model is not None and self.pretrain is not None:
            for m, spec in self.model.encoders.items():
                tower = self.pretrain.towers.get(m)
                if tower is None or m not in tower.encoders:
                    continue
                if spec.model_dump() != tower.encoders[m].model_dump():
                    raise ValueError(
                        f"model.encoders.{m} differs from pretrain.towers.{m}.encoders.{m}: the "
                        "supervised stage starts from the pretrained encoder, so both must be the "
                        "same (leave `encoders` out of `model` to take the towers' encoders)"
                    )
        return self

    @property
    def pretrain_train(self) -> TrainConfig:
        """The training loop of the pretraining stage: ``pretrain.train`` or ``train``."""
        if self.pretrain is not None and self.pretrain.train is not None:
            return self.pretrain.train
        return self.train

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "/\\"):
            raise ValueError("must not contain path separators")
        return value


# ---------------------------------------------------------------------------------------------
# Loading, overrides and error collection
# ---------------------------------------------------------------------------------------------

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
        from polymodal.errors import ConfigError

        raise ConfigError(problems, source="command line")
    return out


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
    return problems


def _all_component_problems(raw: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    data = raw.get("data", {"name": "synthetic"})
    problems += component_problems("dataset", "data", data if data is not None else {})
    problems += _model_problems("model", raw.get("model"))
    pretrain = raw.get("pretrain")
    if isinstance(pretrain, str | dict):
        try:
            pretrain = PretrainConfig._from_preset(pretrain)
        except Exception:  # reported by the schema
            pretrain = None
    if isinstance(pretrain, dict):
        problems += component_problems("objective", "pretrain.objective", pretrain.get("objective"))
        towers = pretrain.get("towers")
        if isinstance(towers, dict):
            for name, tower in towers.items():
                problems += _model_problems(f"pretrain.towers.{name}", tower)
    return problems


def parse_config(
    raw: Any, *, source: str = "<config>", check_components: bool = True
) -> ExperimentConfig:
    """Validate a raw mapping into an :class:`ExperimentConfig`, reporting every problem at once.

    Raises:
        ConfigError: listing each problem with its YAML path (``train.max_epochs: ...``).
    """
    import pydantic

    from polymodal.errors import ConfigError

    if not isinstance(raw, dict):
        raise ConfigError(
            ["the file must hold a mapping (key: value pairs) at top level"], source=source
        )
    _load_config_plugins(raw, source)
    problems: list[str] = []
    config: ExperimentConfig | None = None
    try:
        config = ExperimentConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems += format_validation_errors(exc, ExperimentConfig, root=raw)
    if check_components:
        problems += _all_component_problems(raw)
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

    from polymodal.errors import ConfigError

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
    """Load an experiment from YAML (or from overrides alone when ``path`` is None)."""
    raw = read_yaml(path) if path is not None else {}
    if not isinstance(raw, dict):
        from polymodal.errors import ConfigError

        raise ConfigError(["the file must hold a mapping at top level"], source=str(path))
    raw = apply_overrides(raw, overrides)
    source = str(path) if path is not None else "command line"
    if overrides and path is not None:
        source += " (with overrides)"
    return parse_config(raw, source=source)


_OMITTED_AT_DEFAULT = {"unimodal_loss_weight": 0.0}
"""Model-section keys added after configs were first saved: left out of the saved mapping at
their default, so runs and benchmark cells saved before them keep their config (and key)."""


def _without_late_defaults(model: Any) -> Any:
    if isinstance(model, dict):
        for key, default in _OMITTED_AT_DEFAULT.items():
            if key in model and model[key] == default:
                del model[key]
    return model


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """A plain mapping of the resolved config (what ``config.yaml`` of a run holds)."""
    out = config.model_dump(mode="json")
    if not out.get("plugins"):  # added later: runs saved before it keep their config
        out.pop("plugins", None)
    _without_late_defaults(out.get("model"))
    if out.get("pretrain") is None:  # added later: runs saved before it keep their config
        out.pop("pretrain", None)
    pretrain = out.get("pretrain")
    if isinstance(pretrain, dict):
        for tower in (pretrain.get("towers") or {}).values():
            _without_late_defaults(tower)
    return out


def config_to_yaml(config: ExperimentConfig) -> str:
    import yaml

    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
