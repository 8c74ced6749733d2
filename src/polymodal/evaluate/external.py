"""Evaluate a predictions file made elsewhere, on equal terms with polymodal's own runs.

A user's file (Parquet, CSV or JSONL) holds one row per sample with the columns of a predictions
table (see :mod:`polymodal.evaluate.predict`): ``id``, ``target``, ``prediction`` and, optionally,
``scores`` (class probabilities; in CSV a JSON list such as ``[0.1, 0.9]``), ``perturbation`` and
``severity``. The same metrics, intervals, plots and report are computed from it, into an output
folder that ``polymodal compare`` accepts like a run directory.

Scores are optional: without them the metrics that need them are skipped, each with a note. A
NaN inside the scores is an error naming the row; a prediction that is not the arg-max of its
row's scores is reported (``checks`` in ``metrics.json``), since metrics of the prediction and of
the scores would then describe different classifiers. With scores, AUROC, AUPRC, log loss, Brier
and ECE join the default metrics.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from polymodal.data.schema import TaskSpec, TaskType
from polymodal.errors import DataError
from polymodal.evaluate.metrics import default_metrics
from polymodal.evaluate.metrics.inputs import stack_column
from polymodal.evaluate.run import EvaluationOptions, summarize_table
from polymodal.rundir.layout import REPORT_FILE

REQUIRED = ("id", "target", "prediction")

logger = logging.getLogger(__name__)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a user's predictions file into a predictions table (lists parsed, defaults added)."""
    path = Path(path)
    readers = {".parquet": pd.read_parquet, ".csv": pd.read_csv, ".jsonl": _read_jsonl}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"unsupported predictions file type {path.suffix!r}",
            where=str(path),
            fix="give a .parquet, .csv or .jsonl file",
        )
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path")
    try:
        table = reader(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(
            f"cannot read the file: {exc}", where=str(path), fix="check its format"
        ) from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; found {list(table.columns)}",
            where=str(path),
            fix="one row per sample with id, target, prediction (and optionally scores)",
        )
    for column in ("target", "prediction", "scores"):
        if column in table.columns:
            table[column] = [_parse_cell(v, column, i, path) for i, v in enumerate(table[column])]
    table["id"] = table["id"].astype(str)
    if table["id"].duplicated().any():
        duplicate = table.loc[table["id"].duplicated(), "id"].iloc[0]
        raise DataError(f"duplicate id {duplicate!r}", where=str(path), fix="ids must be unique")
    if "scores" in table.columns:
        _check_scores(table, path)
    if "perturbation" not in table.columns:
        table["perturbation"] = "none"
    if "severity" not in table.columns:
        table["severity"] = 0
    return table


def _check_scores(table: pd.DataFrame, path: Path) -> None:
    """DataError naming the first row whose scores hold a NaN (or infinity)."""
    scores = stack_column(table["scores"], "scores", str(path))  # [N, C]
    bad = np.flatnonzero(~np.isfinite(scores).all(axis=1))
    if len(bad):
        row = int(bad[0])
        raise DataError(
            f"row {row + 1} (id {table['id'].iloc[row]!r}) has NaN or infinite scores"
            + (f", and {len(bad) - 1} more rows" if len(bad) > 1 else ""),
            where=str(path),
            fix="write a finite probability per class in every row, or drop the scores column",
        )


def prediction_checks(table: pd.DataFrame, task_type: TaskType) -> dict[str, Any]:
    """How many rows' prediction is not the arg-max of their scores (multiclass), with the first
    such id: ``{"argmax_disagreements": n, "first_id": ...}``; ``{}`` without scores."""
    if task_type != "multiclass" or "scores" not in table.columns:
        return {}
    scores = stack_column(table["scores"], "scores", "predictions table")  # [N, C]
    prediction = table["prediction"].to_numpy().astype(np.int64)
    own = scores[np.arange(len(scores)), np.clip(prediction, 0, scores.shape[1] - 1)]
    differ = np.flatnonzero((prediction >= scores.shape[1]) | (own < scores.max(axis=1)))
    first = str(table["id"].iloc[differ[0]]) if len(differ) else None
    return {"argmax_disagreements": len(differ), "first_id": first}


def _read_jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True)


def _parse_cell(value: Any, column: str, row: int, path: Path) -> Any:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return [float(v) for v in json.loads(value)]
        except (ValueError, TypeError):
            raise DataError(
                f"row {row + 1}, column {column!r}: not a list of numbers: {value[:40]!r}",
                where=str(path),
                fix="write lists as JSON, e.g. [0.1, 0.9]",
            ) from None
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def infer_task(table: pd.DataFrame, task_type: TaskType) -> TaskSpec:
    """The task of a predictions table: its width from scores, targets or predictions."""
    if task_type == "multiclass":
        widths = [len(s) for s in table["scores"]] if "scores" in table.columns else []
        labels = pd.concat([table["target"], table["prediction"]])
        return TaskSpec("multiclass", max([int(labels.max()) + 1, *widths]))
    first = table["target"].iloc[0]
    return TaskSpec(task_type, len(first) if isinstance(first, list) else 1)


def evaluate_predictions(
    path: str | Path,
    task_type: TaskType | Literal["generation"],
    out_dir: str | Path,
    *,
    metrics: list[str] | None = None,
    options: EvaluationOptions | None = None,
) -> dict[str, Any]:
    """Metrics, intervals, plots and report of a predictions file, written to ``out_dir``.

    ``metrics`` are metric specs (``name`` or ``name:key=value,...``); default: the task's
    defaults, plus the metrics of scores when the file has them.
    """
    from polymodal.io import write_text_atomic
    from polymodal.report.run_report import render_run_report

    if task_type == "generation":  # texts: id, hypothesis, references (own reader and metrics)
        from polymodal.evaluate.generation import evaluate_generation

        opts = options or EvaluationOptions()
        return evaluate_generation(
            path,
            out_dir,
            metrics=metrics,
            resamples=opts.resamples,
            level=opts.level,
            seed=opts.seed,
        )
    table = read_predictions(path)
    task = infer_task(table, task_type)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {"run": Path(path).stem, "dataset": str(path), "split": "given"}
    checks = prediction_checks(table, task_type)
    if checks.get("argmax_disagreements"):
        header["checks"] = checks
        logger.warning(
            "%d rows' prediction is not the arg-max of their scores (first: id %s)",
            checks["argmax_disagreements"],
            checks["first_id"],
        )
    names = metrics or default_metrics(task_type, with_scores="scores" in table.columns)
    payload = summarize_table(table, task, names, options or EvaluationOptions(), out_dir, header)
    write_text_atomic(out_dir / REPORT_FILE, render_run_report(payload, None))
    return payload
