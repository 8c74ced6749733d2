"""Named presets: the YAML files of this package, every value written out (a leaf: YAML only).

A supervised preset (``early``, ``late``, ``tfn``, ``lmf``, ``gated``, ``graph``, ``bilinear``,
``mult``, ``mmbt``, ``coattn``, ``dual-encoder``) is a model section: the ``model:`` part of an
experiment config. A contrastive preset (``clip``, ``moco``) holds ``towers`` (one single-encoder
model section per modality, with a ``retrieval`` head) and ``objective`` (the loss parameters):
an experiment's ``pretrain:`` section. Configs expand ``{preset: NAME, ...changes}`` with
:func:`polymodal.config.expand_presets`; models and towers are built by
:mod:`polymodal.models.builder`.

A preset's one-line description is its ``description:`` key (left out of :func:`load_preset`),
or else the first sentence of its leading comment, without the ``NAME:`` prefix.

Usage::

    from polymodal.presets import load_preset, preset_names

    preset_names()                   # ['bilinear', 'clip', 'coattn', ...]
    preset_description("tfn")        # 'Tensor Fusion Network (Zadeh et al. 2017), ...'
    section = load_preset("tfn")     # {'encoders': {...}, 'fusion': {'name': 'tensor', ...}, ...}
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from polymodal.errors import ConfigError

_SUFFIX = ".yaml"
_SOURCE = "preset"


def _folder() -> Any:
    """This package's data folder (a ``Traversable``)."""
    return resources.files(__name__)


def preset_names() -> list[str]:
    """Sorted names of every preset (the YAML files' names without ``.yaml``)."""
    return sorted(
        entry.name[: -len(_SUFFIX)]
        for entry in _folder().iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def preset_text(name: str) -> str:
    """The YAML text of preset ``name``, comments included.

    Raises:
        ConfigError: an unknown name (the message lists every preset).
    """
    names = preset_names()
    if name not in names:
        raise ConfigError([f"unknown preset {name!r}; presets: {', '.join(names)}"], source=_SOURCE)
    return str(_folder().joinpath(name + _SUFFIX).read_text(encoding="utf-8"))


def _parsed(name: str) -> dict[str, Any]:
    try:
        content = yaml.safe_load(preset_text(name))
    except yaml.YAMLError as exc:
        raise ConfigError(
            [f"preset file {name}{_SUFFIX} is not valid YAML ({exc})"], source=_SOURCE
        ) from None
    if not isinstance(content, dict):
        raise ConfigError([f"preset file {name}{_SUFFIX} does not hold a mapping"], source=_SOURCE)
    return content


def load_preset(name: str) -> dict[str, Any]:
    """The content of preset ``name`` without its ``description`` (a fresh mapping every call).

    Raises:
        ConfigError: an unknown name (the message lists every preset), or a preset file that is
            not a YAML mapping.
    """
    content = _parsed(name)
    content.pop("description", None)
    return content


def is_towers(content: dict[str, Any]) -> bool:
    """Whether a preset's content is a contrastive pair of towers (``clip``, ``moco``)."""
    return "towers" in content


def _leading_comment(text: str) -> str:
    """The first sentence of the comment lines at the top of ``text``, joined into one line."""
    words: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        part = line.lstrip("#").strip()
        if not part:
            break
        words.append(part)
        if part.endswith("."):
            break
    return " ".join(words)


def preset_description(name: str) -> str:
    """A one-line description of preset ``name`` (see the module's docstring)."""
    given = _parsed(name).get("description")
    if isinstance(given, str) and given.strip():
        return " ".join(given.split())
    text = _leading_comment(preset_text(name))
    head, sep, rest = text.partition(": ")
    return rest if sep and head == name else text
