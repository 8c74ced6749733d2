"""Build a :class:`MultimodalModel` from a :class:`~polymodal.config.ModelConfig`, and the two
towers of a contrastive section (:func:`build_towers`).

Every problem of the model section (unknown modality, unknown component, bad parameter,
component that does not fit its modality or task) is gathered and reported at once in one
:class:`~polymodal.errors.ConfigError`, each with its YAML path (``model.encoders.image.out_dim``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from torch import nn

from polymodal.config import ComponentSpec, ModelConfig, component_problems
from polymodal.data.schema import DatasetInfo
from polymodal.errors import ConfigError
from polymodal.models.multimodal import MultimodalModel
from polymodal.registry import ENCODERS, FUSIONS, HEADS, INTERACTIONS, Registry

DEFAULT_HEADS: dict[str, str] = {
    "multiclass": "classification",
    "multilabel": "multilabel",
    "regression": "regression",
}
"""The head used for each task type when the config names none."""


def _validated(
    registry: Registry[Any], spec: ComponentSpec, path: str, problems: list[str]
) -> dict[str, Any] | None:
    """The component's user parameters after validation, or None (with problems appended).

    Problems are worded as the config loader words them (unknown name or key, bad value).
    """
    found = component_problems(registry.kind, path, {"name": spec.name, **spec.params})
    if found:
        problems.extend(found)
        return None
    checked = registry.params_model(spec.name).model_validate(spec.params)
    return {key: getattr(checked, key) for key in spec.params}


def _create(
    registry: Registry[Any],
    component: ComponentSpec,
    params: dict[str, Any],
    path: str,
    problems: list[str],
    **injected: Any,
) -> Any:
    """Build a component; a :class:`ConfigError` it raises becomes problems under ``path``."""
    try:
        return registry.create(component.name, **injected, **params)
    except ConfigError as err:
        problems.extend(f"{path}: {p}" for p in err.problems)
        return None


def _raise(problems: list[str]) -> None:
    if problems:
        raise ConfigError(problems)


def _check_task(cfg: ModelConfig, info: DatasetInfo) -> None:
    """A dataset without labels (task ``none``) takes only a retrieval tower."""
    if info.task.type == "none" and (cfg.head is None or cfg.head.name != "retrieval"):
        _raise(
            [
                f"model.head: dataset {info.name!r} has no labels (task none), so a supervised "
                "model cannot train on it; give the data a label column, or train towers with "
                "a contrastive `pretrain` section (each tower with a `retrieval` head)"
            ]
        )


@dataclass
class _Checked:
    """The model section's components with their validated user parameters."""

    encoders: dict[str, dict[str, Any]]
    interaction: dict[str, Any] | None
    fusion: dict[str, Any]
    head_spec: ComponentSpec
    head: dict[str, Any]


def _check(cfg: ModelConfig, info: DatasetInfo) -> _Checked:
    """Validate every component's parameters at once (raises a ConfigError listing them)."""
    problems: list[str] = []
    known = ", ".join(info.modalities)
    encoders: dict[str, dict[str, Any] | None] = {}
    for key, spec in cfg.encoders.items():
        if key not in info.modalities:
            problems.append(
                f"model.encoders.{key}: {key!r} is not a modality of dataset {info.name!r}; "
                f"its modalities are: {known}"
            )
        encoders[key] = _validated(ENCODERS, spec, f"model.encoders.{key}", problems)
    interaction = None
    if cfg.interaction is not None:
        interaction = _validated(INTERACTIONS, cfg.interaction, "model.interaction", problems)
    fusion = _validated(FUSIONS, cfg.fusion, "model.fusion", problems)
    _check_task(cfg, info)
    head_spec = cfg.head or ComponentSpec(name=DEFAULT_HEADS[info.task.type])
    head = _validated(HEADS, head_spec, "model.head", problems)
    _raise(problems)
    return _Checked(
        {k: v or {} for k, v in encoders.items()}, interaction, fusion or {}, head_spec, head or {}
    )


def _build_encoders(cfg: ModelConfig, info: DatasetInfo, checked: _Checked) -> dict[str, Any]:
    problems: list[str] = []
    encoders = {
        key: _create(
            ENCODERS,
            spec,
            checked.encoders[key],
            f"model.encoders.{key}",
            problems,
            spec=info.modalities[key],
        )
        for key, spec in cfg.encoders.items()
    }
    _raise(problems)
    return encoders


def _build_interaction(
    cfg: ModelConfig, checked: _Checked, dims: dict[str, int]
) -> tuple[Any, dict[str, int]]:
    """The interaction (or None) and the widths it gives each modality."""
    if cfg.interaction is None:
        return None, dims
    problems: list[str] = []
    interaction = _create(
        INTERACTIONS,
        cfg.interaction,
        checked.interaction or {},
        "model.interaction",
        problems,
        in_dims=dims,
    )
    _raise(problems)
    return interaction, {key: int(interaction.out_dims[key]) for key in dims}


def _build_fusion_and_head(
    cfg: ModelConfig, info: DatasetInfo, checked: _Checked, dims: dict[str, int]
) -> tuple[Any, Any]:
    """The fusion and the head (None when the fusion owns its head, as late fusion does)."""
    problems: list[str] = []
    fusion = _create(
        FUSIONS, cfg.fusion, checked.fusion, "model.fusion", problems, in_dims=dims, task=info.task
    )
    _raise(problems)
    if fusion.owns_head:
        if cfg.head is not None:
            _raise(
                [
                    f"model.head: fusion {cfg.fusion.name!r} produces the task output itself; "
                    "remove the head"
                ]
            )
        return fusion, None
    head = _create(
        HEADS,
        checked.head_spec,
        checked.head,
        "model.head",
        problems,
        in_dim=int(fusion.out_dim),
        task=info.task,
    )
    _raise(problems)
    return fusion, head


def _unimodal_heads(
    cfg: ModelConfig, info: DatasetInfo, encoders: dict[str, Any]
) -> dict[str, nn.Module] | None:
    """One linear classifier of the task per encoder when ``unimodal_loss_weight > 0`` (the model
    is built without them when its fusion owns per-modality heads: those are trained instead)."""
    if cfg.unimodal_loss_weight <= 0:
        return None
    if info.task.type not in DEFAULT_HEADS:
        _raise([f"model.unimodal_loss_weight: needs a supervised task, not {info.task.type!r}"])
    width = info.task.num_outputs
    return {m: nn.Linear(int(enc.out_dim), width) for m, enc in encoders.items()}


def build_model(cfg: ModelConfig, info: DatasetInfo) -> MultimodalModel:
    """Build the model described by ``cfg`` for the dataset described by ``info``.

    Encoders are created from ``ENCODERS`` with ``spec=info.modalities[key]`` (keys must be the
    dataset's modality names); the interaction, if any, with ``in_dims`` of the encoders' widths;
    the fusion with the (interaction's) widths and ``task=info.task``; the head (default by task
    type, see :data:`DEFAULT_HEADS`) with ``in_dim=fusion.out_dim`` and ``task``, unless the
    fusion owns its head.

    Raises:
        ConfigError: listing every problem, each with its ``model.…`` path.
    """
    checked = _check(cfg, info)
    encoders = _build_encoders(cfg, info, checked)
    dims = {key: int(enc.out_dim) for key, enc in encoders.items()}
    interaction, dims = _build_interaction(cfg, checked, dims)
    fusion, head = _build_fusion_and_head(cfg, info, checked, dims)
    # a fusion that owns per-modality heads (late) has them trained by the unimodal losses
    unimodal = None if fusion.owns_head else _unimodal_heads(cfg, info, encoders)
    return MultimodalModel(encoders, fusion, head, interaction, unimodal, cfg.unimodal_loss_weight)


def _tower_config(name: str, raw: Any, problems: list[str]) -> ModelConfig | None:
    """A tower's model section validated, or None with its problems (under ``towers.<name>``)."""
    if isinstance(raw, ModelConfig):
        cfg = raw
    else:
        try:
            cfg = ModelConfig.model_validate(raw)
        except pydantic.ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(f"towers.{name}.{loc}: {err['msg']}")
            return None
    if name not in cfg.encoders:
        problems.append(
            f"towers.{name}.encoders: the tower {name!r} must have an encoder of modality "
            f"{name!r} (it has: {', '.join(cfg.encoders)})"
        )
        return None
    return cfg


def build_towers(section: Mapping[str, Any], info: DatasetInfo) -> dict[str, MultimodalModel]:
    """Build the two towers of a contrastive section (preset ``clip``, ``moco``) for ``info``.

    Each tower is a :class:`MultimodalModel` built with :func:`build_model` from
    ``section["towers"][m]`` (a mapping or a :class:`ModelConfig`); its ``forward(batch).output``
    is the embedding ``[B, embed_dim]`` of modality ``m`` (L2-normalised by the ``retrieval``
    head), and ``batch.inputs[m].present`` says which rows are data.

    Args:
        section: a contrastive section, e.g. ``polymodal.presets.load_preset("clip")``.
        info: the dataset; it must have both towers' modalities.

    Returns:
        modality name -> tower, in the section's order.

    Raises:
        ConfigError: no ``towers`` mapping of two model sections, or any problem of a tower
            (every problem at once, each under ``towers.<modality>``).
    """
    towers = section.get("towers")
    if not isinstance(towers, Mapping) or len(towers) != 2:
        raise ConfigError(
            ["towers: expected a mapping of two model sections, one per modality"],
            source="model preset",
        )
    problems: list[str] = []
    configs = {str(name): _tower_config(str(name), raw, problems) for name, raw in towers.items()}
    built: dict[str, MultimodalModel] = {}
    for name, cfg in configs.items():
        if cfg is None:
            continue
        try:
            built[name] = build_model(cfg, info)
        except ConfigError as err:  # builder problems start with "model."
            problems.extend(f"towers.{name}.{p.removeprefix('model.')}" for p in err.problems)
    if problems:
        raise ConfigError(problems, source="model preset")
    return built


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
