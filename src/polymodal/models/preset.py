"""Named model presets: the YAML files of ``polymodal/models/presets/``, every value written out.

A supervised preset (``early``, ``late``, ``tfn``, ``lmf``, ``gated``, ``graph``, ``bilinear``,
``mult``, ``mmbt``, ``coattn``, ``dual-encoder``) is a model section: the ``model:`` part of an
experiment config, valid as a :class:`~polymodal.config.ModelConfig`. A contrastive preset
(``clip``, ``moco``) holds ``towers`` (one single-encoder model section per modality, with a
``retrieval`` head) and ``objective`` (the loss parameters); build its towers with
:func:`build_towers`.

Usage::

    from polymodal.models.preset import load_preset, preset_names

    preset_names()                   # ['bilinear', 'clip', 'coattn', ...]
    section = load_preset("tfn")     # {'encoders': {...}, 'fusion': {'name': 'tensor', ...}, ...}
    model = build_model(ModelConfig.model_validate(section), info)
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from polymodal.errors import ConfigError

if TYPE_CHECKING:  # reading presets stays light (no torch): configs expand them
    from polymodal.data.schema import DatasetInfo
    from polymodal.models.multimodal import MultimodalModel

_SUFFIX = ".yaml"


def _folder() -> Any:
    """The ``presets`` data folder of the installed package (a ``Traversable``)."""
    return resources.files("polymodal.models").joinpath("presets")


def preset_names() -> list[str]:
    """Sorted names of every preset (the YAML files' names without ``.yaml``)."""
    return sorted(
        entry.name[: -len(_SUFFIX)]
        for entry in _folder().iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def load_preset(name: str) -> dict[str, Any]:
    """The model section of preset ``name`` (a fresh mapping on every call).

    Raises:
        ConfigError: an unknown name (the message lists every preset), or a preset file that is
            not a YAML mapping.
    """
    names = preset_names()
    if name not in names:
        raise ConfigError(
            [f"unknown model preset {name!r}; presets: {', '.join(names)}"],
            source="model preset",
        )
    text = _folder().joinpath(name + _SUFFIX).read_text(encoding="utf-8")
    try:
        section = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            [f"preset file {name}{_SUFFIX} is not valid YAML ({exc})"], source="model preset"
        ) from None
    if not isinstance(section, dict):
        raise ConfigError(
            [f"preset file {name}{_SUFFIX} does not hold a mapping"], source="model preset"
        )
    return section


def _tower_config(name: str, raw: Any, problems: list[str]) -> Any:
    """A tower's model section validated, or None with its problems (under ``towers.<name>``)."""
    import pydantic

    from polymodal.config import ModelConfig

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
    """Build the two towers of a contrastive preset (``clip``, ``moco``) for dataset ``info``.

    Each tower is a :class:`MultimodalModel` built with
    :func:`~polymodal.models.builder.build_model` from ``section["towers"][m]``; its
    ``forward(batch).output`` is the embedding ``[B, embed_dim]`` of modality ``m`` (L2-normalised
    by the ``retrieval`` head), and ``batch.inputs[m].present`` says which rows are data.

    Args:
        section: a contrastive preset, e.g. ``load_preset("clip")``.
        info: the dataset; it must have both towers' modalities.

    Returns:
        modality name -> tower, in the preset's order.

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
    from polymodal.models.builder import build_model

    problems: list[str] = []
    configs = {name: _tower_config(str(name), raw, problems) for name, raw in towers.items()}
    built: dict[str, MultimodalModel] = {}
    for name, cfg in configs.items():
        if cfg is None:
            continue
        try:
            built[str(name)] = build_model(cfg, info)
        except ConfigError as err:  # builder problems start with "model."
            problems.extend(f"towers.{name}.{p.removeprefix('model.')}" for p in err.problems)
    if problems:
        raise ConfigError(problems, source="model preset")
    return built
