"""Preset expansion: one pre-pass over a raw experiment mapping, before any validation.

A model section may be a preset name (``model: tfn``) or a preset with changes
(``model: {preset: tfn, fusion: {proj_dim: 16}, unimodal_loss_weight: 1.0}``), merged key by key
into the preset's content (:func:`merge`; an encoder set to null, ``encoders: {image: null}``,
is dropped, so a preset's encoders can be renamed to a dataset's modalities); the same holds
for ``pretrain`` (``pretrain: clip``, ``pretrain: {preset: moco, transfer: {mode: finetune}}``).
A benchmark spec's model entries are expanded by the same function (:func:`expand_model`), so an
experiment's ``model:`` and a spec's ``models.<name>:`` mean the same.

A contrastive preset (``clip``, ``moco``) given as a *model* is a two-stage run: its towers are
pretrained, then their frozen encoders feed a linear classifier (:data:`LINEAR_PROBE`). A
model section's own ``pretrain`` key moves to the experiment's top-level ``pretrain``.
"""

from __future__ import annotations

from typing import Any

from polymodal.errors import ConfigError
from polymodal.presets import is_towers, load_preset

LINEAR_PROBE: dict[str, Any] = {
    "fusion": {"name": "concat"},
    "head": {"name": "classification", "hidden_dim": None, "dropout": 0.0},
}
"""The supervised stage a contrastive preset gets as a model: the towers' encoders, frozen
(``pretrain.transfer.mode: linear_probe``), concatenated into a linear classifier."""


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in: mappings key by key, anything else replaced.

    >>> merge({"fusion": {"name": "tensor", "proj_dim": 8}}, {"fusion": {"proj_dim": 4}})
    {'fusion': {'name': 'tensor', 'proj_dim': 4}}
    """
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _split(entry: Any, path: str) -> tuple[str, dict[str, Any], str] | None:
    """``(preset name, changes, path of the name)`` of an entry naming a preset, else None."""
    if isinstance(entry, str):
        return entry, {}, path
    if isinstance(entry, dict) and "preset" in entry:
        name = entry["preset"]
        if not isinstance(name, str):
            raise ConfigError([f"{path}.preset: expected a preset name, got {name!r}"])
        return name, {k: v for k, v in entry.items() if k != "preset"}, f"{path}.preset"
    return None


def _load(name: str, where: str) -> dict[str, Any]:
    try:
        return load_preset(name)
    except ConfigError as err:
        raise ConfigError([f"{where}: {p}" for p in err.problems]) from None


def expand_model(entry: Any, path: str = "model") -> Any:
    """A model entry as a model section (``pretrain`` key included for a contrastive preset).

    Args:
        entry: a preset name, ``{preset: NAME, ...changes}``, or a model section (returned as
            it is).
        path: the entry's YAML path, for messages.

    Raises:
        ConfigError: an unknown preset, at ``<path>`` or ``<path>.preset``, listing the presets.
    """
    found = _split(entry, path)
    if found is None:
        return entry
    name, changes, where = found
    content = _load(name, where)
    if is_towers(content):  # contrastive towers: pretrain them, then a linear probe
        content = {"pretrain": name, **LINEAR_PROBE}
    merged = merge(content, changes)
    encoders = merged.get("encoders")
    if isinstance(encoders, dict):  # `encoders: {image: null}` drops a preset's encoder
        merged["encoders"] = {k: v for k, v in encoders.items() if v is not None}
    return merged


def expand_pretrain(entry: Any, path: str = "pretrain") -> Any:
    """A ``pretrain`` entry with its preset expanded (see :func:`expand_model`).

    Raises:
        ConfigError: an unknown preset, or a supervised preset, at ``<path>[.preset]``.
    """
    found = _split(entry, path)
    if found is None:
        return entry
    name, changes, where = found
    content = _load(name, where)
    if not is_towers(content):
        raise ConfigError(
            [f"{where}: preset {name!r} is a supervised model section, not a pair of towers"]
        )
    return merge(content, changes)


def expand_presets(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``raw`` with its ``model`` and ``pretrain`` presets expanded, and the problems found.

    A new mapping is returned; ``raw`` is not changed. Expanding an expanded mapping changes
    nothing. A ``pretrain`` key inside the model section (a contrastive preset as a model, or a
    benchmark model entry with its own pretraining) becomes the top-level ``pretrain``.
    """
    out = dict(raw)
    problems: list[str] = []
    try:
        model = expand_model(out.get("model"))
    except ConfigError as err:
        problems += err.problems
        model = out.get("model")
    if isinstance(model, dict) and "pretrain" in model:
        model = dict(model)
        if out.get("pretrain") is not None:
            problems.append(
                "model.pretrain: the experiment has a top-level pretrain section; keep one"
            )
        out["pretrain"] = model.pop("pretrain")
    if "model" in out:
        out["model"] = model
    try:
        if "pretrain" in out:
            out["pretrain"] = expand_pretrain(out["pretrain"])
    except ConfigError as err:
        problems += err.problems
    return out, problems
