"""Evaluate a trained run on one split: predictions table, metrics with intervals, and options.

One pass of the model over the split gives the predictions table; every number is computed from
it. With options, the table also holds the perturbed conditions (robustness) and the modality
subsets (contribution), so nothing is re-run to get another number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from polymodal.config import ExperimentConfig
from polymodal.data.bundle import DataBundle
from polymodal.data.loading import make_dataloader
from polymodal.data.schema import Sample, TaskSpec
from polymodal.errors import PolymodalError
from polymodal.evaluate.metrics import (
    create_metric,
    default_metrics,
    evaluate_metrics,
    inputs_from_table,
    metric_direction,
)
from polymodal.evaluate.predict import predict_table
from polymodal.io import atomic_write, write_json_atomic, write_text_atomic
from polymodal.models.multimodal import MultimodalModel
from polymodal.train.feature_cache import (
    cache_dir_of,
    cache_features,
    cached_loader,
    cached_view,
    frozen_modalities,
    log_cached,
)
from polymodal.train.run import load_run_config, load_trained


@dataclass
class EvaluationOptions:
    """What to compute besides the clean metrics.

    Attributes:
        robustness: metric-vs-severity curves for every modality and perturbation.
        contribution: leave-one-out and exact Shapley values over modalities.
        efficiency: parameters, FLOPs, latency, throughput, peak memory, training time.
        resamples: bootstrap resamples of each metric's confidence interval (0: none).
        level: confidence level of the intervals.
        seed: seed of perturbations and bootstrap.
    """

    robustness: bool = False
    contribution: bool = False
    efficiency: bool = False
    resamples: int = 1000
    level: float = 0.95
    seed: int = 0


@dataclass
class EvaluationResult:
    """Metrics of one split, and where the table and report were written."""

    run_dir: Path
    split: str
    metrics: dict[str, Any]
    table: pd.DataFrame
    payload: dict[str, Any] = field(default_factory=dict)


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write a predictions table as Parquet, atomically."""
    with atomic_write(path, mode="wb") as handle:
        table.to_parquet(handle, index=False)


def primary_metric(task: TaskSpec, names: list[str] | None = None) -> str:
    """The metric that ranks models: the first configured, else the task's first default."""
    return (names or default_metrics(task.type))[0]


def metric_intervals(
    clean: pd.DataFrame, task: TaskSpec, names: list[str], options: EvaluationOptions
) -> dict[str, dict[str, float]]:
    """Bootstrap interval of every scalar metric in ``names`` over the clean rows."""
    return _metric_report(clean, task, names, options).intervals


def _metric_report(
    clean: pd.DataFrame, task: TaskSpec, names: list[str], options: EvaluationOptions
) -> Any:
    """Values, intervals and notes of ``names``, each metric on its own."""
    return evaluate_metrics(
        clean,
        task.type,
        names,
        resamples=options.resamples,
        level=options.level,
        seed=options.seed,
    )


def split_dataset(bundle: DataBundle, split: str, run_dir: str | Path) -> Dataset[Sample]:
    """The dataset of ``split``; a PolymodalError naming the splits there are otherwise."""
    if split not in bundle.splits:
        raise PolymodalError(
            f"the dataset has no split {split!r}",
            where=str(run_dir),
            fix=f"use one of: {', '.join(sorted(bundle.splits))}",
        )
    return bundle.splits[split]


def evaluate_run(
    run_dir: str | Path,
    *,
    split: str | None = None,
    metrics: list[str] | None = None,
    batch_size: int | None = None,
    options: EvaluationOptions | None = None,
) -> EvaluationResult:
    """Run the run's best model over ``split`` once, then compute everything from the table.

    Writes ``predictions.parquet``, ``metrics.json``, ``report.md`` and ``plots/*.png`` into
    ``run_dir``.
    """
    run_dir = Path(run_dir)
    options = options or EvaluationOptions()
    if load_run_config(run_dir).model is None:  # a contrastive run: retrieval in both directions
        from polymodal.evaluate.pretrained import RANKS_FILE, evaluate_pretrained

        asked = [n for n in ("robustness", "contribution", "efficiency") if getattr(options, n)]
        if asked or metrics:
            raise PolymodalError(
                f"{', '.join(asked + (['metrics'] if metrics else []))} not available for a "
                "contrastive run: it is evaluated by retrieval (R@K both ways)",
                where=str(run_dir),
                fix="drop those options, or evaluate the supervised stage of a two-stage run "
                "(its run directory, not its `pretrain` folder)",
            )

        payload = evaluate_pretrained(
            run_dir,
            split=split,
            batch_size=batch_size,
            resamples=options.resamples,
            level=options.level,
            seed=options.seed,
        )
        ranks = pd.read_parquet(run_dir / RANKS_FILE)
        return EvaluationResult(run_dir, payload["split"], payload["metrics"], ranks, payload)
    config, bundle, model = load_trained(run_dir)
    split = split or config.eval.split
    dataset = split_dataset(bundle, split, run_dir)
    used = {name: bundle.info.modalities[name] for name in config.model.encoders}
    size = batch_size or config.eval.batch_size or config.train.batch_size
    task = bundle.info.task
    names = metrics or config.eval.metrics or default_metrics(task.type, with_scores=True)

    if options.robustness:
        from polymodal.evaluate.robustness import robustness_table

        table = robustness_table(model, dataset, used, task, batch_size=size, seed=options.seed)
    else:
        table = _clean_table(config, bundle, model, split, size, run_dir)
    if options.contribution:
        from polymodal.evaluate.contribution import subset_tables

        subsets = subset_tables(model, dataset, used, task, batch_size=size, seed=options.seed)
        table = pd.concat([table, subsets], ignore_index=True)
    header = {"run": config.name or run_dir.name, "dataset": config.data.name, "split": split}
    extra = _efficiency(model, dataset, used, size, run_dir) if options.efficiency else None
    payload = summarize_table(table, task, names, options, run_dir, header, efficiency=extra)
    from polymodal.report.markdown import render_run_report

    write_text_atomic(run_dir / "report.md", render_run_report(payload, config))
    return EvaluationResult(run_dir, split, payload["metrics"], table, payload)


def _clean_table(
    config: ExperimentConfig,
    bundle: DataBundle,
    model: MultimodalModel,
    split: str,
    size: int,
    run_dir: Path,
) -> pd.DataFrame:
    """The clean predictions of ``split``; frozen encoders read cached features when the run's
    ``train.feature_cache`` is on (computed with batches of ``size`` if not cached yet)."""
    used = {name: bundle.info.modalities[name] for name in config.model.encoders}
    dataset = bundle.splits[split]
    cache_dir = cache_dir_of(config.train.feature_cache, run_dir)
    modalities = frozen_modalities(model) if cache_dir is not None else []
    if cache_dir is None or not modalities:
        return predict_table(
            model, make_dataloader(dataset, used, batch_size=size), bundle.info.task
        )
    log_cached(modalities, model, cache_dir)
    cached = cache_features(
        config, bundle, model, cache_dir, modalities, batch_size=size, splits=[split]
    )
    loader = cached_loader(dataset, cached[split], used, batch_size=size)
    return predict_table(cached_view(model, modalities), loader, bundle.info.task)


def summarize_table(
    table: pd.DataFrame,
    task: TaskSpec,
    names: list[str],
    options: EvaluationOptions,
    out_dir: Path,
    header: dict[str, Any],
    *,
    efficiency: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every number of an evaluation from its predictions table, written to ``out_dir``.

    Clean rows (``perturbation == "none"``) give the metrics and intervals; perturbed rows
    (``<kind>:<modality>``), when present, the robustness curves; subset rows (``keep:...``) the
    modality contribution. Writes ``predictions.parquet``, ``metrics.json`` and ``plots/``;
    returns the ``metrics.json`` payload.
    """
    primary = primary_metric(task, names)
    clean = table[table["perturbation"] == "none"].reset_index(drop=True)
    report = _metric_report(clean, task, names, options)
    payload: dict[str, Any] = {
        **header,
        "task": task.type,
        "num_samples": len(clean),
        "primary_metric": primary,
        "higher_is_better": metric_direction(primary),
        "metrics": report.values,
        "intervals": report.intervals,
        "notes": report.notes,
    }
    plots_dir = out_dir / "plots"
    payload["plots"] = _clean_plots(clean, task, plots_dir, out_dir)
    labels = set(table["perturbation"])
    if any(":" in label and not label.startswith("keep:") for label in labels):
        payload["robustness"] = _robustness(table, task, primary, plots_dir, out_dir, payload)
    if any(label.startswith("keep:") for label in labels):
        payload["contribution"] = _contribution(table, task, primary, plots_dir, out_dir, payload)
    if efficiency is not None:
        payload["efficiency"] = efficiency
    write_table(table, out_dir / "predictions.parquet")
    write_json_atomic(out_dir / "metrics.json", _json_safe(payload))
    return payload


def _clean_plots(clean: pd.DataFrame, task: TaskSpec, plots_dir: Path, run_dir: Path) -> dict:
    if task.type != "multiclass" or clean.empty:
        return {}
    from polymodal.evaluate.metrics import reliability_diagram
    from polymodal.report.plots import plot_confusion_matrix, plot_reliability_diagram

    inputs = inputs_from_table(clean, task.type)
    names = list(task.class_names or [str(i) for i in range(task.num_outputs)])
    matrix = create_metric("confusion_matrix").compute(inputs)
    paths = {"confusion_matrix": plot_confusion_matrix(matrix, names, plots_dir / "confusion.png")}
    if inputs.scores is not None:  # a predictions file made elsewhere may have no scores
        diagram = reliability_diagram(inputs)
        paths["reliability"] = plot_reliability_diagram(diagram, plots_dir / "reliability.png")
    return {k: str(p.relative_to(run_dir)) for k, p in paths.items()}


def _robustness(
    table: pd.DataFrame, task: TaskSpec, metric: str, plots_dir: Path, run_dir: Path, payload: dict
) -> dict[str, Any]:
    from polymodal.evaluate.robustness import robustness_curves, robustness_summary
    from polymodal.report.plots import plot_robustness_curves

    curves = robustness_curves(table, task.type, metric)
    summary = robustness_summary(table, task.type, metric)
    path = plot_robustness_curves(curves, metric, plots_dir / "robustness.png")
    payload["plots"]["robustness"] = str(path.relative_to(run_dir))
    return {
        "metric": metric,
        "curves": curves.to_dict(orient="records"),
        "summary": summary.to_dict(orient="records"),
    }


def _contribution(
    table: pd.DataFrame, task: TaskSpec, metric: str, plots_dir: Path, run_dir: Path, payload: dict
) -> dict[str, Any]:
    from polymodal.evaluate.contribution import modality_contribution
    from polymodal.report.plots import plot_contribution

    frame = modality_contribution(table, task.type, metric)
    path = plot_contribution(frame, plots_dir / "contribution.png", metric=metric)
    payload["plots"]["contribution"] = str(path.relative_to(run_dir))
    return {"metric": metric, "values": frame.to_dict(orient="records")}


def _efficiency(model, dataset, used, size: int, run_dir: Path) -> dict[str, Any]:
    from polymodal.evaluate.efficiency import measure_efficiency, training_seconds

    batch = next(iter(make_dataloader(dataset, used, batch_size=size)))
    result = measure_efficiency(model, batch, eval_batch_size=len(batch))
    try:
        result["training_seconds"] = training_seconds(run_dir)
    except PolymodalError:
        result["training_seconds"] = None  # trained elsewhere: no summary to read
    return result


def _json_safe(value: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN/inf to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.generic, torch.Tensor)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
