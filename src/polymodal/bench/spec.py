"""Benchmark specification (the schema): datasets x model variants x seeds, each one cell (a run).

A spec file::

    name: my-bench
    datasets:                       # a list (labels derived: synthetic-redundant) or {label: data}
      - {name: synthetic, task: redundant, n: 2000}
      - {name: manifest, path: data/train.jsonl, modalities: {...}, label: y}
    models:                         # name -> model section (or a preset name, see below)
      image-only: {encoders: {image: cnn}}
      concat: {encoders: {image: cnn, audio: audio_conv}, fusion: concat}
    grid:                           # optional: every combination is a separate model variant
      train.lr: [0.001, 0.003]
    seeds: [0, 1, 2]
    train: {max_epochs: 10, batch_size: 64}
    eval: {split: test, robustness: true, contribution: true, efficiency: true, resamples: 1000}
    leaderboard: {alpha: 0.05, test: auto}

Each cell is an ordinary :class:`~polymodal.config.ExperimentConfig` (validated like any config;
the cells, and reading a spec file with every cell checked, are in :mod:`polymodal.bench.cells`);
``eval`` also holds the evaluation options of :class:`polymodal.evaluate.run.EvaluationOptions`.
A model entry means what an experiment's ``model:`` means: a model section, or a preset of
:mod:`polymodal.presets` by name (``early``, ``tfn``, ...). A contrastive preset (``clip``,
``moco``) becomes a two-stage cell: its towers are pretrained on the training split, then their
frozen encoders feed a linear classifier (:data:`polymodal.config.LINEAR_PROBE`).
A model section may also hold a ``pretrain`` section of its own (as an experiment's top-level
``pretrain``; see :class:`polymodal.config.PretrainConfig`), e.g.
``clip-finetune: {pretrain: {preset: clip, transfer: {mode: finetune}}, head: classification}``.
A preset with changes is ``{preset: NAME, ...}``, merged key by key, e.g.
``tfn-aux: {preset: tfn, unimodal_loss_weight: 1.0, fusion: {proj_dim: 16}}``.
Validation reports every problem of the file at once, each with its YAML path in the spec
(``models.concat.fusion.name: ...``, ``datasets.0.task: ...``, ``grid.train.lr: ...``).

The built-in benchmark (what ``polymodal bench`` runs without a spec file) is
:func:`polymodal.bench.cells.default_spec` (the packaged ``bench/builtin.yaml``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polymodal.config import DataConfig, EvalConfig, TrainConfig
from polymodal.config.generation import GenerationConfig

GRID_SECTIONS = ("data", "model", "train")
"""Sections a grid key may start with."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


class BenchEval(EvalConfig):
    """Evaluation of every cell: the experiment's ``eval`` section plus evaluation options.

    Attributes:
        robustness: metric-vs-severity curves per modality and perturbation.
        contribution: leave-one-out and Shapley values over modalities.
        efficiency: parameters, FLOPs, latency, throughput, memory, training time.
        resamples: bootstrap resamples of each metric's interval (0: none).
        level: confidence level of intervals.
    """

    robustness: bool = False
    contribution: bool = False
    efficiency: bool = False
    resamples: int = Field(1000, ge=0)
    level: float = Field(0.95, gt=0.0, lt=1.0)

    def experiment_eval(self) -> dict[str, Any]:
        """The fields of the experiment's own ``eval`` section."""
        return {k: getattr(self, k) for k in EvalConfig.model_fields}

    def options(self) -> dict[str, Any]:
        """The evaluation options (keyword arguments of ``EvaluationOptions`` except seed)."""
        return {
            k: getattr(self, k)
            for k in ("robustness", "contribution", "efficiency", "resamples", "level")
        }


class LeaderboardOptions(BaseModel):
    """How models are compared with the best of their dataset.

    Attributes:
        alpha: family-wise level of the Holm-corrected tests.
        test: ``mcnemar`` (accuracy, multiclass), ``bootstrap`` (paired bootstrap of the primary
            metric) or ``auto`` (McNemar when the primary metric is accuracy, else bootstrap).
        resamples: resamples of the paired bootstrap.
        reference: compare every model with this one (e.g. the best unimodal baseline) instead
            of with the best of its dataset.
    """

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    test: Literal["auto", "bootstrap", "mcnemar"] = "auto"
    resamples: int = Field(1000, ge=10)
    reference: str | None = None


class CellResources(BaseModel):
    """What one cell needs where cells are scheduled (``--executor ray``): CPUs and GPUs.

    Example: ``resources: {cpus: 2, gpus: 0.5}`` (two cells share a GPU)."""

    model_config = ConfigDict(extra="forbid")

    cpus: float = Field(1.0, gt=0.0)
    gpus: float = Field(0.0, ge=0.0)


class BenchSpec(BaseModel):
    """What ``polymodal bench`` runs: every dataset x model variant x seed is one cell."""

    model_config = ConfigDict(extra="forbid")

    name: str = "bench"
    plugins: list[str] = Field(default_factory=list)
    """Modules registering the user's own components (see :mod:`polymodal.plugins`); every
    cell's config names them, so they are imported before the cells are checked."""
    datasets: list[DataConfig] = Field(min_length=1)
    dataset_labels: list[str] | None = None
    models: dict[str, Any] = Field(min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: BenchEval = Field(default_factory=BenchEval)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Target tokenizer and decoding of every generation cell (the experiment's
    ``generation:``); the primary metric is the first of ``eval.metrics``."""
    leaderboard: LeaderboardOptions = Field(default_factory=LeaderboardOptions)
    resources: CellResources = Field(default_factory=CellResources)
    """CPUs and GPUs of one cell, for an executor that schedules cells (``--executor ray``)."""
    store: str | None = None
    """The results store's URL (``postgresql://...``) for a benchmark shared by several
    machines; ``--store`` overrides it. Default: ``results.sqlite`` in the benchmark directory."""

    @model_validator(mode="before")
    @classmethod
    def _labelled_datasets(cls, raw: Any) -> Any:
        """``datasets: {label: data}`` is ``datasets: [data]`` with ``dataset_labels: [label]``."""
        if isinstance(raw, dict) and isinstance(raw.get("datasets"), dict):
            raw = dict(raw)
            raw["dataset_labels"] = [str(k) for k in raw["datasets"]]
            raw["datasets"] = list(raw["datasets"].values())
        return raw

    @model_validator(mode="after")
    def _check_labels(self) -> BenchSpec:
        labels = self.dataset_labels
        if labels is not None and len(labels) != len(self.datasets):
            raise ValueError("dataset_labels needs one label per dataset")
        if labels is not None and (
            len(set(labels)) != len(labels) or any("/" in x for x in labels)
        ):
            raise ValueError("dataset labels must be distinct and free of '/'")
        return self

    @field_validator("models")
    @classmethod
    def _model_entries(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, model in value.items():
            if not isinstance(model, (dict, str)):
                raise ValueError(
                    f"model {name!r} must be a model section (a mapping with encoders) "
                    f"or a preset name, got {type(model).__name__}"
                )
        return value

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\"):
            raise ValueError("must be a non-empty name without path separators")
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        if any(s < 0 for s in value) or len(set(value)) != len(value):
            raise ValueError("seeds must be distinct integers >= 0")
        return value

    @field_validator("grid")
    @classmethod
    def _grid_keys(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            parts = key.split(".")
            if len(parts) < 2 or parts[0] not in GRID_SECTIONS or not all(parts):
                raise ValueError(
                    f"grid key {key!r} must be a dotted path under {', '.join(GRID_SECTIONS)}"
                    " (e.g. train.lr or model.fusion.hidden_dim)"
                )
            if not values:
                raise ValueError(f"grid key {key!r} needs at least one value")
        return value

    def labelled_datasets(self) -> list[tuple[str, str, DataConfig]]:
        """``(label, yaml path, data config)`` of every dataset, labels unique."""
        if self.dataset_labels is not None:
            pairs = zip(self.dataset_labels, self.datasets, strict=True)
            return [(label, f"datasets.{label}", d) for label, d in pairs]
        out: list[tuple[str, str, DataConfig]] = []
        seen: dict[str, int] = {}
        for i, data in enumerate(self.datasets):
            label = dataset_label(data)
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:  # the same dataset twice with other params: number the repeats
                label = f"{label}-{seen[label]}"
            out.append((label, f"datasets.{i}", data))
        return out


def dataset_label(data: DataConfig) -> str:
    """A short label of a dataset entry: its name and task, if any (``synthetic-synergy``)."""
    scalars = [str(v) for k, v in sorted(data.params.items()) if k == "task"]
    return "-".join([data.name, *scalars])


def slug(text: str) -> str:
    """``text`` made safe as a folder name (letters, digits, ``._=+-``)."""
    return _UNSAFE.sub("-", text).strip("-") or "x"
