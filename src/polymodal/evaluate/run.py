"""Evaluate a trained run on one split: predictions table, metrics and a short report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.data.loading import make_dataloader
from polymodal.errors import PolymodalError
from polymodal.evaluate.metrics import compute_metrics
from polymodal.evaluate.predict import predict_table
from polymodal.io import atomic_write, write_json_atomic, write_text_atomic
from polymodal.train.run import load_trained


@dataclass
class EvaluationResult:
    """Metrics of one split, and where the table and report were written."""

    run_dir: Path
    split: str
    metrics: dict[str, Any]
    table: pd.DataFrame


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write a predictions table as Parquet, atomically."""
    with atomic_write(path, mode="wb") as handle:
        table.to_parquet(handle, index=False)


def evaluate_run(
    run_dir: str | Path,
    *,
    split: str | None = None,
    metrics: list[str] | None = None,
    batch_size: int | None = None,
) -> EvaluationResult:
    """Run the run's best model over ``split`` once, then compute every metric from the table.

    Writes ``predictions.parquet``, ``metrics.json`` and ``report.md`` into ``run_dir``.
    """
    run_dir = Path(run_dir)
    config, bundle, model = load_trained(run_dir)
    split = split or config.eval.split
    if split not in bundle.splits:
        raise PolymodalError(
            f"the dataset has no split {split!r}",
            where=str(run_dir),
            fix=f"use one of: {', '.join(sorted(bundle.splits))}",
        )
    used = {name: bundle.info.modalities[name] for name in config.model.encoders}
    loader = make_dataloader(
        bundle.splits[split],
        used,
        batch_size=batch_size or config.eval.batch_size or config.train.batch_size,
    )
    task = bundle.info.task
    table = predict_table(model, loader, task)
    names = metrics or config.eval.metrics
    values = compute_metrics(table, task.type, names)
    payload = {
        "run": config.name or run_dir.name,
        "dataset": config.data.name,
        "split": split,
        "task": task.type,
        "num_samples": len(table),
        "metrics": values,
    }
    write_table(table, run_dir / "predictions.parquet")
    write_json_atomic(run_dir / "metrics.json", payload)
    write_text_atomic(run_dir / "report.md", render_run_report(payload, config.model.model_dump()))
    return EvaluationResult(run_dir, split, values, table)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render_run_report(payload: dict[str, Any], model: dict[str, Any]) -> str:
    """A short Markdown report of one evaluation (the full report is written by ``report``)."""
    encoders = ", ".join(f"{k} ({v['name']})" for k, v in model["encoders"].items())
    lines = [
        f"# {payload['run']}",
        "",
        f"- dataset: `{payload['dataset']}`, split `{payload['split']}`, "
        f"{payload['num_samples']} samples, task {payload['task']}",
        f"- encoders: {encoders}",
        f"- fusion: `{model['fusion']['name']}`",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for name, value in payload["metrics"].items():
        if isinstance(value, (int, float)):
            lines.append(f"| {name} | {_fmt(value)} |")
    return "\n".join(lines) + "\n"
