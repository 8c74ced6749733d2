"""Build a :class:`MultimodalModel` from a :class:`~polymodal.config.ModelConfig`.

Every problem of the model section (unknown modality, unknown component, bad parameter,
component that does not fit its modality or task) is gathered and reported at once in one
:class:`~polymodal.errors.ConfigError`, each with its YAML path (``model.encoders.image.out_dim``).
"""

from __future__ import annotations

from typing import Any

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
    problems: list[str] = []
    known = ", ".join(info.modalities)
    enc_params: dict[str, dict[str, Any] | None] = {}
    for key, spec in cfg.encoders.items():
        if key not in info.modalities:
            problems.append(
                f"model.encoders.{key}: {key!r} is not a modality of dataset {info.name!r}; "
                f"its modalities are: {known}"
            )
        enc_params[key] = _validated(ENCODERS, spec, f"model.encoders.{key}", problems)
    inter_params = (
        None
        if cfg.interaction is None
        else _validated(INTERACTIONS, cfg.interaction, "model.interaction", problems)
    )
    fusion_params = _validated(FUSIONS, cfg.fusion, "model.fusion", problems)
    if info.task.type == "none" and (cfg.head is None or cfg.head.name != "retrieval"):
        _raise(
            [
                f"model.head: dataset {info.name!r} has no labels (task none), so a supervised "
                "model cannot train on it; give the data a label column, or train towers with "
                "a contrastive `pretrain` section (each tower with a `retrieval` head)"
            ]
        )
    head_spec = cfg.head or ComponentSpec(name=DEFAULT_HEADS[info.task.type])
    head_params = _validated(HEADS, head_spec, "model.head", problems)
    _raise(problems)

    encoders = {
        key: _create(
            ENCODERS,
            spec,
            enc_params[key] or {},
            f"model.encoders.{key}",
            problems,
            spec=info.modalities[key],
        )
        for key, spec in cfg.encoders.items()
    }
    _raise(problems)
    dims = {key: int(enc.out_dim) for key, enc in encoders.items()}

    interaction = None
    if cfg.interaction is not None:
        interaction = _create(
            INTERACTIONS,
            cfg.interaction,
            inter_params or {},
            "model.interaction",
            problems,
            in_dims=dims,
        )
        _raise(problems)
        dims = {key: int(interaction.out_dims[key]) for key in dims}

    fusion = _create(
        FUSIONS,
        cfg.fusion,
        fusion_params or {},
        "model.fusion",
        problems,
        in_dims=dims,
        task=info.task,
    )
    _raise(problems)

    head = None
    if fusion.owns_head:
        if cfg.head is not None:
            problems.append(
                f"model.head: fusion {cfg.fusion.name!r} produces the task output itself; "
                "remove the head"
            )
    else:
        head = _create(
            HEADS,
            head_spec,
            head_params or {},
            "model.head",
            problems,
            in_dim=int(fusion.out_dim),
            task=info.task,
        )
    _raise(problems)
    unimodal = None
    if cfg.unimodal_loss_weight > 0:
        if info.task.type not in DEFAULT_HEADS:
            _raise([f"model.unimodal_loss_weight: needs a supervised task, not {info.task.type!r}"])
        width = info.task.num_outputs
        unimodal = {m: nn.Linear(int(enc.out_dim), width) for m, enc in encoders.items()}
    return MultimodalModel(encoders, fusion, head, interaction, unimodal, cfg.unimodal_loss_weight)


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
