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

from polymodal.config import ExperimentConfig
from polymodal.data.bundle import DataBundle
from polymodal.data.loading import make_dataloader
from polymodal.data.schema import ModalitySpec, TaskSpec
from polymodal.errors import PolymodalError
from polymodal.evaluate.metrics import (
    create_metric,
    default_metrics,
    evaluate_metrics,
    inputs_from_table,
    metric_direction,
)
from polymodal.evaluate.predict import predict_table, write_table
from polymodal.io import write_json_atomic, write_text_atomic
from polymodal.models.multimodal import MultimodalModel
from polymodal.rundir.layout import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    RANKS_FILE,
    REPORT_FILE,
    plot_path,
)
from polymodal.rundir.load import (
    evaluation_split,
    load_run_config,
    load_trained,
    weights_selection,
)


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
    ``run_dir``. A contrastive run (no ``model``) is evaluated by retrieval instead
    (:mod:`polymodal.evaluate.pretrained`).
    """
    run_dir = Path(run_dir)
    options = options or EvaluationOptions()
    saved = load_run_config(run_dir)
    if saved.model is None:
        return _evaluate_contrastive(run_dir, split, metrics, batch_size, options)
    if saved.model.decoder is not None:
        return _evaluate_generation(run_dir, split, metrics, batch_size, options)
    config, bundle, model = load_trained(run_dir)
    split, dataset = evaluation_split(config, bundle, split, run_dir)
    size = batch_size or config.eval.batch_size or config.train.batch_size
    task = bundle.info.task
    names = metrics or config.eval.metrics or default_metrics(task.type, with_scores=True)

    table = _predictions(config, bundle, model, split, size, run_dir, options)
    header = {"run": config.name or run_dir.name, "dataset": config.data.name, "split": split}
    if weights := weights_selection(run_dir):
        header["weights"] = weights  # which epoch's weights, chosen by which rule
    used = _used_modalities(config, bundle)
    extra = _efficiency(model, dataset, used, size, run_dir) if options.efficiency else None
    payload = summarize_table(table, task, names, options, run_dir, header, efficiency=extra)
    from polymodal.report.run_report import render_run_report

    write_text_atomic(run_dir / REPORT_FILE, render_run_report(payload, config))
    return EvaluationResult(run_dir, split, payload["metrics"], table, payload)


def _used_modalities(config: ExperimentConfig, bundle: DataBundle) -> dict[str, ModalitySpec]:
    """The modalities the run's model reads (its encoders), with their specs."""
    assert config.model is not None
    return {name: bundle.info.modalities[name] for name in config.model.encoders}


def _evaluate_contrastive(
    run_dir: Path,
    split: str | None,
    metrics: list[str] | None,
    batch_size: int | None,
    options: EvaluationOptions,
) -> EvaluationResult:
    """Retrieval in both directions for a contrastive run; the table is its per-query ranks.

    Raises:
        PolymodalError: options or metrics that only a supervised run has.
    """
    from polymodal.evaluate.pretrained import evaluate_pretrained

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


def _evaluate_generation(
    run_dir: Path,
    split: str | None,
    metrics: list[str] | None,
    batch_size: int | None,
    options: EvaluationOptions,
) -> EvaluationResult:
    """Decode and score a generation run (:mod:`polymodal.evaluate.generation.run`).

    Raises:
        PolymodalError: robustness, contribution or efficiency (not available for generation).
    """
    from polymodal.evaluate.generation.run import evaluate_generation_run

    asked = [n for n in ("robustness", "contribution", "efficiency") if getattr(options, n)]
    if asked:
        raise PolymodalError(
            f"{', '.join(asked)} not available for a generation run yet",
            where=str(run_dir),
            fix="drop those options",
        )
    payload, table = evaluate_generation_run(
        run_dir, split=split, metrics=metrics, batch_size=batch_size,
        resamples=options.resamples, level=options.level, seed=options.seed,
    )  # fmt: skip
    return EvaluationResult(run_dir, payload["split"], payload["metrics"], table, payload)


def _predictions(
    config: ExperimentConfig,
    bundle: DataBundle,
    model: MultimodalModel,
    split: str,
    size: int,
    run_dir: Path,
    options: EvaluationOptions,
) -> pd.DataFrame:
    """The one predictions table of an evaluation: the clean rows (the perturbed conditions
    too with ``robustness``), then the modality subsets with ``contribution``."""
    used = _used_modalities(config, bundle)
    dataset, task = bundle.splits[split], bundle.info.task
    if options.robustness:
        from polymodal.evaluate.robustness import robustness_table

        table = robustness_table(model, dataset, used, task, batch_size=size, seed=options.seed)
    else:
        table = _clean_table(config, bundle, model, split, size, run_dir)
    if options.contribution:
        from polymodal.evaluate.contribution import subset_tables

        subsets = subset_tables(model, dataset, used, task, batch_size=size, seed=options.seed)
        table = pd.concat([table, subsets], ignore_index=True)
    return table


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
    # imported here, not at the top: evaluating a predictions file made elsewhere
    # (evaluate.external) must not load the training package
    from polymodal.features.training import (
        cache_dir_of,
        cache_features,
        cached_loader,
        cached_view,
        frozen_modalities,
        log_cached,
    )

    used = _used_modalities(config, bundle)
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
    payload["plots"] = _clean_plots(clean, task, out_dir)
    labels = set(table["perturbation"])
    if any(":" in label and not label.startswith("keep:") for label in labels):
        payload["robustness"] = _robustness(table, task, primary, out_dir, payload)
    if any(label.startswith("keep:") for label in labels):
        payload["contribution"] = _contribution(table, task, primary, out_dir, payload)
    if efficiency is not None:
        payload["efficiency"] = efficiency
    write_table(table, out_dir / PREDICTIONS_FILE)
    write_json_atomic(out_dir / METRICS_FILE, _json_safe(payload))
    return payload


def _clean_plots(clean: pd.DataFrame, task: TaskSpec, out_dir: Path) -> dict:
    if task.type != "multiclass" or clean.empty:
        return {}
    from polymodal.evaluate.metrics import reliability_diagram
    from polymodal.report.plots import plot_confusion_matrix, plot_reliability_diagram

    inputs = inputs_from_table(clean, task.type)
    names = list(task.class_names or [str(i) for i in range(task.num_outputs)])
    matrix = create_metric("confusion_matrix").compute(inputs)
    paths = {
        "confusion_matrix": plot_confusion_matrix(
            matrix, names, plot_path(out_dir, "confusion_matrix")
        )
    }
    if inputs.scores is not None:  # a predictions file made elsewhere may have no scores
        diagram = reliability_diagram(inputs)
        paths["reliability"] = plot_reliability_diagram(diagram, plot_path(out_dir, "reliability"))
    return {k: str(p.relative_to(out_dir)) for k, p in paths.items()}


def _robustness(
    table: pd.DataFrame, task: TaskSpec, metric: str, out_dir: Path, payload: dict
) -> dict[str, Any]:
    from polymodal.evaluate.robustness import robustness_curves, robustness_summary
    from polymodal.report.plots import plot_robustness_curves

    curves = robustness_curves(table, task.type, metric)
    summary = robustness_summary(table, task.type, metric)
    path = plot_robustness_curves(curves, metric, plot_path(out_dir, "robustness"))
    payload["plots"]["robustness"] = str(path.relative_to(out_dir))
    return {
        "metric": metric,
        "curves": curves.to_dict(orient="records"),
        "summary": summary.to_dict(orient="records"),
    }


def _contribution(
    table: pd.DataFrame, task: TaskSpec, metric: str, out_dir: Path, payload: dict
) -> dict[str, Any]:
    from polymodal.evaluate.contribution import modality_contribution
    from polymodal.report.plots import plot_contribution

    frame = modality_contribution(table, task.type, metric)
    path = plot_contribution(frame, plot_path(out_dir, "contribution"), metric=metric)
    payload["plots"]["contribution"] = str(path.relative_to(out_dir))
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
