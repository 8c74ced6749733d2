"""Benchmark specification: datasets x models x seeds with shared training settings.

A spec file::

    name: my-bench
    datasets:
      - {name: synthetic, task: synergy}
      - {name: manifest, path: data/train.jsonl, modalities: {...}, label: y}
    models:
      image-only: {encoders: {image: cnn}}
      concat: {encoders: {image: cnn, audio: audio_conv}, fusion: concat}
    seeds: [0, 1, 2]
    train: {max_epochs: 10, batch_size: 64}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from polymodal.config import DataConfig, EvalConfig, ExperimentConfig, TrainConfig, parse_config


class BenchSpec(BaseModel):
    """What ``polymodal bench`` runs: every dataset x model x seed is one cell (one run)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "bench"
    datasets: list[DataConfig] = Field(min_length=1)
    models: dict[str, dict[str, Any]] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


def dataset_label(data: DataConfig) -> str:
    """A short label of a dataset entry: its name and task, if any (``synthetic-synergy``)."""
    scalars = [str(v) for k, v in sorted(data.params.items()) if k == "task"]
    return "-".join([data.name, *scalars])


def cell_config(spec: BenchSpec, data: DataConfig, model_name: str, seed: int) -> ExperimentConfig:
    """The full experiment of one cell, validated like any config."""
    raw = {
        "name": f"{dataset_label(data)}__{model_name}__s{seed}",
        "seed": seed,
        "data": data.model_dump(),
        "model": spec.models[model_name],
        "train": spec.train.model_dump(),
        "eval": spec.eval.model_dump(),
    }
    return parse_config(raw, source=f"benchmark {spec.name}: models.{model_name}")


def load_spec(path: str | Path) -> BenchSpec:
    """Read and validate a benchmark spec, reporting every problem with its YAML path."""
    import pydantic

    from polymodal.config import _format_pydantic_errors, read_yaml
    from polymodal.errors import ConfigError

    raw = read_yaml(path)
    try:
        spec = BenchSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ConfigError(_format_pydantic_errors(exc, BenchSpec), source=str(path)) from None
    problems: list[str] = []
    for data in spec.datasets:
        for model_name in spec.models:
            try:
                cell_config(spec, data, model_name, spec.seeds[0])
            except ConfigError as exc:
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise ConfigError(problems, source=str(path))
    return spec


def default_spec() -> BenchSpec:
    """The built-in benchmark: unimodal baselines against early and late fusion on ``synthetic``.

    On the synergy task (label = XOR of an image and an audio attribute) each modality alone is at
    chance, late fusion cannot combine them, and early (concat) fusion can; on the redundant task
    one modality suffices.
    """
    encoders = {"image": "cnn", "audio": "audio_conv"}
    return BenchSpec(
        name="builtin",
        datasets=[
            DataConfig(name="synthetic", task="redundant", n=2000),
            DataConfig(name="synthetic", task="synergy", n=2000),
        ],
        models={
            "image-only": {"encoders": {"image": "cnn"}},
            "audio-only": {"encoders": {"audio": "audio_conv"}},
            "late": {"encoders": encoders, "fusion": "late"},
            "concat": {"encoders": encoders, "fusion": "concat"},
        },
        seeds=[0],
        train=TrainConfig(max_epochs=8, batch_size=64, lr=2e-3, progress=False),
    )
