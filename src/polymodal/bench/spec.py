"""Benchmark specification: datasets x model variants x seeds, each combination one cell (one run).

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

Each cell is an ordinary :class:`~polymodal.config.ExperimentConfig` (validated like any config);
``eval`` also holds the evaluation options of :class:`polymodal.evaluate.run.EvaluationOptions`.
A model given as a string is a preset of ``polymodal.models.preset`` (``early``, ``tfn``, ...).
A contrastive preset (``clip``, ``moco``) becomes a two-stage cell: its towers are pretrained
on the training split, then their frozen encoders feed a linear classifier (:data:`LINEAR_PROBE`).
A model section may also hold a ``pretrain`` section of its own (as an experiment's top-level
``pretrain``; see :class:`polymodal.config.PretrainConfig`), e.g.
``clip-finetune: {pretrain: {preset: clip, transfer: {mode: finetune}}, head: classification}``.
A preset with changes is ``{preset: NAME, ...}``, merged key by key, e.g.
``tfn-aux: {preset: tfn, unimodal_loss_weight: 1.0, fusion: {proj_dim: 16}}``.
Validation reports every problem of the file at once, each with its YAML path in the spec
(``models.concat.fusion.name: ...``, ``datasets.0.task: ...``, ``grid.train.lr: ...``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polymodal.config import (
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    TrainConfig,
    apply_overrides,
    config_to_dict,
    parse_config,
)
from polymodal.errors import ConfigError

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


class BenchSpec(BaseModel):
    """What ``polymodal bench`` runs: every dataset x model variant x seed is one cell."""

    model_config = ConfigDict(extra="forbid")

    name: str = "bench"
    datasets: list[DataConfig] = Field(min_length=1)
    dataset_labels: list[str] | None = None
    models: dict[str, Any] = Field(min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: BenchEval = Field(default_factory=BenchEval)
    leaderboard: LeaderboardOptions = Field(default_factory=LeaderboardOptions)

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


@dataclass(frozen=True)
class Variant:
    """A model with one combination of the grid's values.

    Attributes:
        name: ``model`` alone without a grid, else ``model[key=value,...]``.
        model: the model's name in the spec.
        overrides: the grid's ``dotted.key=value`` overrides of this variant.
        values: the grid's ``{dotted key: value}`` of this variant.
    """

    name: str
    model: str
    overrides: tuple[str, ...]
    values: tuple[tuple[str, Any], ...]


def _short_keys(keys: list[str]) -> dict[str, str]:
    """The last part of each dotted key, or the whole key where last parts clash."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def variants(spec: BenchSpec) -> list[Variant]:
    """Every model x grid combination, in spec order (models outer, grid inner)."""
    keys = list(spec.grid)
    short = _short_keys(keys)
    combos = list(itertools.product(*(spec.grid[k] for k in keys))) if keys else [()]
    out = []
    for model in spec.models:
        for combo in combos:
            pairs = tuple(zip(keys, combo, strict=True))
            overrides = tuple(f"{k}={json.dumps(v)}" for k, v in pairs)
            label = ",".join(f"{short[k]}={_scalar_text(v)}" for k, v in pairs)
            out.append(Variant(f"{model}[{label}]" if label else model, model, overrides, pairs))
    return out


def _scalar_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class Cell:
    """One run of a benchmark: a dataset, a model variant and a seed.

    Attributes:
        dataset: the dataset's label.
        model: the variant's name.
        seed: the training seed.
        config: the full experiment of the cell.
        options: evaluation options (see :meth:`BenchEval.options`).
        position: order in the benchmark (datasets, then models, then seeds).
    """

    dataset: str
    model: str
    seed: int
    config: ExperimentConfig
    options: dict[str, Any]
    position: int

    @property
    def key(self) -> str:
        """Unique key of the cell in the results store: ``dataset/model/seed``."""
        return f"{self.dataset}/{self.model}/{self.seed}"

    @property
    def run_name(self) -> str:
        """The run directory's name under ``runs/``."""
        assert self.config.name is not None
        return self.config.name

    @property
    def config_hash(self) -> str:
        """Hash of everything that determines the cell's results: config and eval options."""
        return config_hash(self.config, self.options)


def config_hash(config: ExperimentConfig, options: dict[str, Any]) -> str:
    """SHA-256 (16 hex digits) of the canonical JSON of a cell's config and evaluation options."""
    text = json.dumps(
        {"config": config_to_dict(config), "evaluation": options}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _preset_model(name: str) -> dict[str, Any]:
    """The model section of preset ``name`` (see ``polymodal.models.preset``).

    Raises:
        ConfigError: an unknown preset, or a contrastive preset (``clip``, ``moco``: towers and an
            objective, not a supervised model) -- reported at ``models.<name>``.
    """
    from polymodal.models.preset import load_preset

    try:
        value = load_preset(name)
    except ConfigError as exc:
        raise ConfigError([f"model: {p}" for p in exc.problems]) from None
    if "towers" in value:  # contrastive towers: pretrain them, then a linear probe
        return {"pretrain": name, **LINEAR_PROBE}
    return value


LINEAR_PROBE: dict[str, Any] = {
    "fusion": {"name": "concat"},
    "head": {"name": "classification", "hidden_dim": None, "dropout": 0.0},
}
"""The supervised stage a contrastive preset gets in a benchmark: the towers' encoders,
frozen (``pretrain.transfer.mode: linear_probe``), concatenated into a linear classifier."""


def _model_entry(model: str | dict[str, Any]) -> dict[str, Any]:
    """A model entry as a model section: a preset name, a mapping with ``preset`` and the
    values to change (merged key by key), or a model section as it is."""
    from polymodal.config import _deep_merge

    if isinstance(model, str):
        return _preset_model(model)
    if "preset" in model:
        rest = {k: v for k, v in model.items() if k != "preset"}
        return _deep_merge(_preset_model(str(model["preset"])), rest)
    return model


def _split_pretrain(model: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """A model entry's supervised section and its ``pretrain`` section (None without one)."""
    section = dict(model)
    return section, section.pop("pretrain", None)


def _relocate(problem: str, data_path: str, model_path: str, variant: Variant) -> str:
    """A cell config's problem (``model.fusion.name: ...``) at its path in the spec."""
    path, sep, message = problem.partition(": ")
    if not sep:
        return problem
    for key, value in variant.values:
        if path == key or path.startswith(key + "."):
            return f"grid.{path} (value {value!r}): {message}"
    for key, _ in variant.values:
        parent = key.rsplit(".", 1)[0]
        if path.startswith(parent + "."):  # e.g. a grid key that creates a section
            message += f" (the section is set through grid key {key})"
            break
    head, _, rest = path.partition(".")
    where = {"data": data_path, "model": model_path, "pretrain": f"{model_path}.pretrain"}.get(head)
    if where is None:
        return f"{path}: {message}"  # train.*, eval.*, seed: the same path in the spec
    return f"{where}.{rest}: {message}" if rest else f"{where}: {message}"


def cell_config(
    spec: BenchSpec, data: DataConfig, variant: Variant, seed: int, *, label: str | None = None
) -> ExperimentConfig:
    """The full experiment of one cell, validated like any config.

    The cell's name is ``<dataset>__<variant>__s<seed>`` (made folder-safe); its Lightning
    progress bar is off (the benchmark shows its own progress).
    """
    label = label or dataset_label(data)
    section, pretrain = _split_pretrain(_model_entry(spec.models[variant.model]))
    raw = {
        "name": f"{slug(label)}__{slug(variant.name)}__s{seed}",
        "seed": seed,
        "data": data.model_dump(),
        "model": section,
        "train": {**spec.train.model_dump(), "progress": False},
        "eval": spec.eval.experiment_eval(),
    }
    if pretrain is not None:
        raw["pretrain"] = pretrain
    raw = apply_overrides(raw, list(variant.overrides))
    return parse_config(raw, source=f"benchmark {spec.name}: {label} / {variant.name}")


def expand_cells(spec: BenchSpec, *, source: str = "<bench spec>") -> list[Cell]:
    """Every cell of ``spec`` (datasets, then variants, then seeds), each config validated.

    Raises:
        ConfigError: every problem of every cell at once, at its path in the spec. A problem of
            only some grid variants of a model names them.
    """
    found: dict[str, list[str]] = {}  # problem -> variants that have it
    model_of = {v.name: v.model for v in variants(spec)}
    cells: list[Cell] = []
    options = spec.eval.options()
    for label, data_path, data in spec.labelled_datasets():
        for variant in variants(spec):
            try:
                configs = [
                    (seed, cell_config(spec, data, variant, seed, label=label))
                    for seed in spec.seeds
                ]
            except ConfigError as exc:
                for problem in exc.problems:
                    moved = _relocate(problem, data_path, f"models.{variant.model}", variant)
                    found.setdefault(moved, []).append(variant.name)
                continue
            for seed, config in configs:
                cells.append(Cell(label, variant.name, seed, config, options, len(cells)))
    problems = []
    for problem, names in found.items():
        models = {model_of[n] for n in names}
        some = set(names) != {n for n, m in model_of.items() if m in models}
        problems.append(f"{problem} (in {', '.join(dict.fromkeys(names))})" if some else problem)
    run_names = [c.run_name for c in cells]
    for name in sorted({n for n in run_names if run_names.count(n) > 1}):
        problems.append(f"datasets, models: two cells share the run folder name {name!r}")
    if problems:
        raise ConfigError(problems, source=source)
    return cells


def parse_spec(raw: Any, *, source: str = "<bench spec>") -> BenchSpec:
    """Validate a raw mapping into a :class:`BenchSpec` and check every cell's config.

    When the spec's own fields have problems, the cells are still checked with those fields
    left at their defaults (and invalid model entries left out), so one run reports both.

    Raises:
        ConfigError: every problem at once, each with its YAML path.
    """
    import pydantic

    from polymodal.config import format_validation_errors

    if not isinstance(raw, dict):
        raise ConfigError(
            ["the file must hold a mapping (key: value pairs) at top level"], source=source
        )
    try:
        spec = BenchSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = format_validation_errors(exc, BenchSpec, root=raw)
        problems += _partial_cell_problems(raw, exc, source)
        raise ConfigError(problems, source=source) from None
    expand_cells(spec, source=source)
    return spec


def _partial_cell_problems(raw: dict[str, Any], exc: Any, source: str) -> list[str]:
    """Cell problems of ``raw`` with its invalid top-level fields dropped (best effort)."""
    import pydantic

    bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    if bad & {"datasets", "dataset_labels"}:
        return []  # no datasets to build cells from
    partial = {k: v for k, v in raw.items() if k not in bad or k == "models"}
    if isinstance(partial.get("models"), dict):
        partial["models"] = {
            k: v for k, v in partial["models"].items() if isinstance(v, (dict, str))
        }
    try:
        spec = BenchSpec.model_validate(partial)
        expand_cells(spec, source=source)
    except pydantic.ValidationError:
        return []
    except ConfigError as cell_errors:
        return cell_errors.problems
    return []


def load_spec(path: str | Path) -> BenchSpec:
    """Read and validate a benchmark spec, reporting every problem with its YAML path."""
    from polymodal.config import read_yaml

    return parse_spec(read_yaml(path), source=str(path))


BUILTIN_SPEC = Path(__file__).with_name("builtin.yaml")
"""The built-in benchmark's spec file, packaged with polymodal."""


def default_spec() -> BenchSpec:
    """The built-in benchmark (:data:`BUILTIN_SPEC`): unimodal baselines against fusion presets
    with unimodal losses on ``digits-av`` (the packaged FSDD sample) and ``synthetic`` synergy.

    Every cell is evaluated with robustness, modality contribution and efficiency.
    """
    return load_spec(BUILTIN_SPEC)
