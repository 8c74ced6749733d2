"""Cells of a benchmark: every dataset x model variant x seed, each an experiment config.

A model variant is a model of the spec with one combination of its grid's values
(:func:`variants`); a cell (:class:`Cell`) is a dataset, a variant and a seed, with the full
:class:`~polymodal.config.ExperimentConfig` of its run (:func:`cell_config`). A model entry is
expanded exactly as an experiment's ``model:`` is (:func:`polymodal.config.expand_presets`): a
preset name, ``{preset: NAME, ...changes}`` or a model section, with an optional ``pretrain``.
:func:`parse_spec` / :func:`load_spec` validate a spec and every cell at once, each problem at
its YAML path in the spec (``models.concat.fusion.name: ...``, ``grid.train.lr: ...``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.bench.spec import BenchSpec, dataset_label, slug
from polymodal.config import (
    DataConfig,
    ExperimentConfig,
    apply_overrides,
    config_to_dict,
    expand_presets,
    parse_config,
)
from polymodal.errors import ConfigError


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

    The model entry's presets are expanded first (as an experiment's), then the grid's overrides
    apply. The cell's name is ``<dataset>__<variant>__s<seed>`` (made folder-safe); its Lightning
    progress bar is off (the benchmark shows its own progress).
    """
    label = label or dataset_label(data)
    raw: dict[str, Any] = {
        "name": f"{slug(label)}__{slug(variant.name)}__s{seed}",
        "seed": seed,
        "data": data.model_dump(),
        "model": spec.models[variant.model],
        "train": {**spec.train.model_dump(), "progress": False},
        "eval": spec.eval.experiment_eval(),
    }
    if spec.plugins:
        raw["plugins"] = list(spec.plugins)
    if "generation" in spec.model_fields_set:
        raw["generation"] = spec.generation.model_dump()
    raw, problems = expand_presets(raw)
    if problems:
        raise ConfigError(problems)
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


# The built-in benchmark: what `polymodal bench` runs without a spec file.
BUILTIN_SPEC = Path(__file__).with_name("builtin.yaml")
"""The built-in benchmark's spec file, packaged with polymodal."""


def default_spec() -> BenchSpec:
    """The built-in benchmark (:data:`BUILTIN_SPEC`): unimodal baselines against fusion presets
    with unimodal losses on ``digits-av`` (the packaged FSDD sample) and ``synthetic`` synergy.

    Every cell is evaluated with robustness, modality contribution and efficiency.
    """
    return load_spec(BUILTIN_SPEC)
