"""Loading a run back from its directory: config, data, best weights, evaluation split.

Everything here reads files written by ``polymodal train`` (see :mod:`polymodal.rundir.layout`)
and rebuilds Python objects from them; nothing imports Lightning or the training code, so
evaluation and inference load a run without them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import Dataset

from polymodal.config import ExperimentConfig, parse_config
from polymodal.data.bundle import DataBundle
from polymodal.data.loading import build_data
from polymodal.data.schema import DatasetInfo, Sample
from polymodal.errors import CheckpointError, PolymodalError
from polymodal.models.builder import build_model, build_towers
from polymodal.models.multimodal import MultimodalModel
from polymodal.objectives.pair import PairObjective, build_objective
from polymodal.rundir.codec import load_weights
from polymodal.rundir.layout import (
    WEIGHTS_INFO_FILE,
    checkpoint_dir,
    config_path,
    data_state_path,
    weights_path,
)


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The resolved config saved in a run directory (``config.yaml``).

    Raises:
        PolymodalError: ``run_dir`` has no ``config.yaml``.
    """
    path = config_path(run_dir)
    if not path.is_file():
        raise PolymodalError(
            "not a run directory (no config.yaml)",
            where=str(run_dir),
            fix="give a directory written by `polymodal train`",
        )
    return parse_config(yaml.safe_load(path.read_text()), source=str(path))


def load_run_data(run_dir: str | Path, config: ExperimentConfig) -> DataBundle:
    """The data of a run, rebuilt with the preprocessing state it was trained with
    (``checkpoint/data_state.json``; none for a run that has not written it yet)."""
    state_path = data_state_path(run_dir)
    state: dict[str, Any] | None = (
        json.loads(state_path.read_text()) if state_path.is_file() else None
    )
    return build_data(config.data, seed=config.seed, state=state)


def load_best_weights(module: torch.nn.Module, run_dir: str | Path) -> None:
    """Load a run's best weights (``checkpoint/model.safetensors``, strict) into ``module`` and
    put it in eval mode.

    Raises:
        CheckpointError: the run has no trained weights.
    """
    path = weights_path(run_dir)
    if not path.is_file():
        raise CheckpointError(
            "the run has no trained weights (checkpoint/model.safetensors)",
            where=str(run_dir),
            fix="train it first, or resume it with `polymodal train CONFIG --out RUN --resume`",
        )
    module.load_state_dict(load_weights(path))
    module.eval()


def weights_selection(run_dir: str | Path) -> dict[str, Any]:
    """How the run's weights were chosen, from ``checkpoint/model.json``: ``{"selection":
    "best" | "last", "epoch": E, "monitor": M}`` (``selection`` "best": the best validation
    epoch of ``monitor``; "last": the last epoch). Empty when the run records none (older runs
    record no ``selection``: the key is then absent)."""
    path = checkpoint_dir(run_dir) / WEIGHTS_INFO_FILE
    if not path.is_file():
        return {}
    info = json.loads(path.read_text(encoding="utf-8"))
    return {k: info[k] for k in ("selection", "epoch", "monitor") if k in info}


def load_trained(run_dir: str | Path) -> tuple[ExperimentConfig, DataBundle, MultimodalModel]:
    """Rebuild a trained supervised run: its config, its data (same preprocessing state) and its
    best model (eval mode). A contrastive run: :func:`load_pretrain_objective`."""
    config = load_run_config(run_dir)
    bundle = load_run_data(run_dir, config)
    assert config.model is not None  # a contrastive run: load_pretrain_objective
    model = build_model(config.model, bundle.info)
    load_best_weights(model, run_dir)
    return config, bundle, model


def build_pretrain_objective(config: ExperimentConfig, info: DatasetInfo) -> PairObjective:
    """The objective of ``config.pretrain`` over freshly built towers for dataset ``info``."""
    assert config.pretrain is not None
    section = {"towers": {m: t.model_dump() for m, t in config.pretrain.towers.items()}}
    towers = build_towers(section, info)
    spec = config.pretrain.objective
    return build_objective(spec.name, towers, spec.params)


def load_pretrain_objective(
    run_dir: str | Path, info: DatasetInfo
) -> tuple[ExperimentConfig, PairObjective]:
    """The config and trained objective (eval mode) of a pretraining run directory.

    Raises:
        CheckpointError: the run has no ``pretrain`` section, or no trained weights.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if config.pretrain is None:
        raise CheckpointError(
            "not a pretraining run (its config has no `pretrain` section)",
            where=str(run_dir),
            fix="give the run directory of a contrastive run (or the `pretrain` folder of a "
            "two-stage run)",
        )
    objective = build_pretrain_objective(config, info)
    load_best_weights(objective, run_dir)
    return config, objective


def split_dataset(bundle: DataBundle, split: str, run_dir: str | Path) -> Dataset[Sample]:
    """The dataset of ``split``.

    Raises:
        PolymodalError: the data has no such split (the error names those it has).
    """
    if split not in bundle.splits:
        raise PolymodalError(
            f"the dataset has no split {split!r}",
            where=str(run_dir),
            fix=f"use one of: {', '.join(sorted(bundle.splits))}",
        )
    return bundle.splits[split]


def evaluation_split(
    config: ExperimentConfig, bundle: DataBundle, split: str | None, run_dir: str | Path
) -> tuple[str, Dataset[Sample]]:
    """The split to evaluate (``split``, else the config's ``eval.split``) and its dataset."""
    name = split or config.eval.split
    return name, split_dataset(bundle, name, run_dir)
