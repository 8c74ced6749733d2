"""Metrics of a predictions table: default sets, metric specs with options, and one rule for
what cannot be computed.

A *metric spec* is a registered name, optionally with parameters: ``"ece"``,
``"ece:bins=10"``, ``"top_k_accuracy:k=3,ties=pessimistic"`` (the form ``--metric-option
ece.bins=10`` builds on the command line). Results are keyed by the spec.

One rule for undefined values, everywhere: a metric that has no value on these samples (Pearson
of a constant prediction, Acc-2 without non-zero labels) is NaN, and its reason is recorded in
``notes``; a metric that cannot run (no scores column, a failed interval) is reported with its
reason too, and never takes the other metrics with it (:func:`evaluate_metrics`).

Example::

    table = pd.read_parquet("run/predictions.parquet")
    compute_metrics(table, "multiclass")                   # the default metrics of the task
    compute_metrics(table, "multiclass", ["f1_weighted", "ece:bins=10"])
    report = evaluate_metrics(table, "regression", ["mae", "pearson"], resamples=1000)
    report.values, report.intervals, report.notes
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from polymodal.evaluate.metrics.base import Metric
from polymodal.evaluate.metrics.inputs import (
    TASK_TYPES,
    MetricError,
    MetricInputs,
    MetricValue,
    MissingScoresError,
    inputs_from_table,
)
from polymodal.evaluate.stats import StatsError, bootstrap_ci
from polymodal.registry import METRICS

if TYPE_CHECKING:  # polymodal.data.schema imports torch, which metrics do not need
    from polymodal.data.schema import TaskType

_DEFAULTS: dict[str, tuple[str, ...]] = {
    "multiclass": (
        "accuracy",
        "balanced_accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_micro",
        "recall_micro",
        "f1_micro",
    ),
    "multilabel": ("f1_micro", "f1_macro", "map"),
    "regression": ("mae", "rmse", "pearson"),
}

_WITH_SCORES: dict[str, tuple[str, ...]] = {
    "multiclass": ("auroc", "auprc", "log_loss", "brier", "ece"),
    "multilabel": ("auroc", "brier"),
    "regression": (),
}
"""Added to the defaults when the table has scores (probabilities)."""


def default_metrics(task_type: TaskType, *, with_scores: bool = False) -> list[str]:
    """The metrics computed when none are named, for ``task_type``; ``with_scores`` adds the
    metrics of class probabilities (AUROC, AUPRC, log loss, Brier, ECE for multiclass)."""
    if task_type not in _DEFAULTS:
        raise MetricError(f"unknown task type {task_type!r}", fix=f"use one of {TASK_TYPES}")
    return list(_DEFAULTS[task_type]) + (list(_WITH_SCORES[task_type]) if with_scores else [])


def _parse_value(text: str) -> Any:
    """An int or a decimal float when ``text`` spells one, else the text (``nan`` stays text)."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)
    return text


def parse_metric_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` -> ``(name, {key: value})`` (ints and floats parsed)."""
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MetricError(
                f"metric option {item!r} of {spec!r} is not KEY=VALUE", fix="e.g. ece:bins=10"
            )
        options[key.strip()] = _parse_value(value.strip())
    return name.strip(), options


def with_options(names: Sequence[str], options: Sequence[str]) -> list[str]:
    """Metric specs from names and ``NAME.KEY=VALUE`` options (the command line's form)."""
    specs = {name: dict(parse_metric_spec(name)[1]) for name in names}
    bases = {parse_metric_spec(name)[0]: name for name in names}
    for option in options:
        head, sep, value = option.partition("=")
        name, dot, key = head.partition(".")
        if not sep or not dot or name not in bases:
            raise MetricError(
                f"metric option {option!r} is not NAME.KEY=VALUE for a chosen metric",
                fix=f"e.g. --metric-option ece.bins=10; chosen metrics: {', '.join(bases)}",
            )
        specs[bases[name]][key] = _parse_value(value)
    out = []
    for name in names:
        base, extra = parse_metric_spec(name)[0], specs[name]
        out.append(base + (":" + ",".join(f"{k}={v}" for k, v in extra.items()) if extra else ""))
    return out


def chosen_metrics(names: str | None, options: Sequence[str]) -> list[str] | None:
    """Metric specs of the command line: ``--metrics a,b`` and ``--metric-option a.k=v``
    (None when no metric is named, i.e. the defaults; options then are an error)."""
    if not names:
        if options:
            raise MetricError(
                "--metric-option needs the metric named in --metrics",
                fix="e.g. --metrics ece --metric-option ece.bins=10",
            )
        return None
    specs = with_options([n.strip() for n in names.split(",") if n.strip()], options)
    for spec in specs:
        create_metric(spec)  # unknown names and parameters fail here, before any work
    return specs


def create_metric(spec: str) -> Metric:
    """The registered metric of ``spec`` (``name`` or ``name:key=value,...``); an unknown name
    raises an error listing all, an unknown parameter one listing the metric's parameters."""
    name, options = parse_metric_spec(spec)
    factory = METRICS.get(name)
    try:
        return factory(**options)
    except TypeError as exc:
        known = list(METRICS.params_model(name).model_fields)
        raise MetricError(
            f"metric {name!r} does not take {sorted(options)}: {exc}",
            fix=f"its parameters: {', '.join(known) or 'none'}",
        ) from None


def metric_direction(spec: str) -> bool:
    """True when higher values of metric ``spec`` are better (declared once, on its class)."""
    return bool(create_metric(spec).higher_is_better)


def flatten_value(name: str, value: MetricValue) -> dict[str, float]:
    """One metric value as flat ``{key: float}``: dict entries become ``name/key``, matrix
    entries ``name/row/col`` (for a confusion matrix, ``name/true/predicted``)."""
    if isinstance(value, dict):
        return {f"{name}/{k}": float(v) for k, v in value.items()}
    if isinstance(value, list):
        return {
            f"{name}/{i}/{j}": float(v) for i, row in enumerate(value) for j, v in enumerate(row)
        }
    return {name: float(value)}


def _check_single_condition(df: pd.DataFrame) -> None:
    columns = [c for c in ("perturbation", "severity") if c in df.columns]
    if not columns:
        return
    conditions = df[columns].drop_duplicates()
    if len(conditions) > 1:
        raise MetricError(
            f"the table mixes {len(conditions)} perturbation conditions",
            where="predictions table",
            fix="compute metrics per condition: df.groupby(['perturbation', 'severity'])",
        )


def create_metrics(names: Sequence[str], task_type: TaskType) -> list[Metric]:
    """The metrics of ``names``; MetricError for one that does not apply to ``task_type``."""
    metrics = [create_metric(name) for name in names]
    for metric in metrics:
        if task_type not in metric.task:
            raise MetricError(
                f"metric {metric.name!r} applies to {' / '.join(metric.task)} tasks, "
                f"not {task_type}",
                fix=f"drop it, or use metrics of the task, e.g. {default_metrics(task_type)}",
            )
    return metrics


def compute_metrics(
    df: pd.DataFrame, task_type: TaskType, names: Sequence[str] | None = None
) -> dict[str, float]:
    """Compute metrics from a predictions table of one condition (one perturbation/severity).

    Args:
        df: the predictions table.
        task_type: ``multiclass``, ``multilabel`` or ``regression``.
        names: metric specs; None -> :func:`default_metrics` of the task.

    Returns:
        ``{name: value}`` in the order of ``names``; per-class dicts and matrices are flattened
        (see :func:`flatten_value`).

    Raises:
        UnknownComponentError: an unknown name (the message lists the known ones).
        MetricError: a metric that does not apply to ``task_type`` or cannot be computed, or a
            table that mixes perturbation conditions.
    """
    names = default_metrics(task_type) if names is None else list(names)
    metrics = create_metrics(names, task_type)
    _check_single_condition(df)
    inputs = inputs_from_table(df, task_type)
    out: dict[str, float] = {}
    for name, metric in zip(names, metrics, strict=True):
        out.update(flatten_value(name, metric.compute(inputs)))
    return out


@dataclass
class MetricReport:
    """Values, intervals and notes of a set of metrics on one table.

    Attributes:
        values: ``{key: value}`` (flattened as :func:`flatten_value`); NaN where undefined.
        intervals: ``{name: {"low", "high", "level", "method", "resamples", "resampling"}}``
            for the scalar metrics that have one.
        notes: ``{name: reason}`` for every metric that is undefined (NaN), skipped (needs
            scores the table lacks) or failed, and for intervals that could not be computed.
    """

    values: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _value_of(metric: Metric, inputs: MetricInputs, name: str, report: MetricReport) -> bool:
    """Put ``metric``'s value into ``report``; True when it is a finite scalar."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = metric.compute(inputs)
    except MissingScoresError as exc:
        report.notes[name] = f"skipped: {exc.what}"
        return False
    except MetricError as exc:
        report.values[name] = float("nan")
        report.notes[name] = f"failed: {exc.what}"
        return False
    report.values.update(flatten_value(name, value))
    if isinstance(value, float) and not np.isfinite(value):
        report.notes[name] = f"undefined: {metric.why_undefined(inputs)}"
        return False
    if caught:
        report.notes[name] = "; ".join(str(w.message) for w in caught)
    return metric.scalar


def _interval_of(
    metric: Metric, inputs: MetricInputs, name: str, options: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reported once, on the metric's own value
            ci = bootstrap_ci(metric, inputs, len(inputs), **options)
    except (MetricError, StatsError) as exc:
        return None, f"no interval: {exc.what}"
    if not (np.isfinite(ci.low) and np.isfinite(ci.high)):
        return None, "no interval: the metric is undefined on some bootstrap resamples"
    interval = {"low": float(ci.low), "high": float(ci.high), "level": ci.level}
    interval |= {"method": ci.method, "resamples": ci.resamples, "resampling": ci.resampling}
    return interval, None


def evaluate_metrics(
    df: pd.DataFrame,
    task_type: TaskType,
    names: Sequence[str],
    *,
    resamples: int = 0,
    level: float = 0.95,
    seed: int = 0,
) -> MetricReport:
    """Every metric of ``names`` on its own: values, bootstrap intervals (``resamples`` > 0)
    and notes. One metric's failure (or undefined value) is a note, never an exception that
    loses the others; only an unknown name or a metric of another task raises (a config error).
    """
    metrics = create_metrics(names, task_type)
    _check_single_condition(df)
    inputs = inputs_from_table(df, task_type)
    report = MetricReport()
    options = {"resamples": resamples, "level": level, "seed": seed}
    for name, metric in zip(names, metrics, strict=True):
        if not _value_of(metric, inputs, name, report) or resamples <= 0 or len(inputs) < 2:
            continue
        interval, note = _interval_of(metric, inputs, name, options)
        if interval is not None:
            report.intervals[name] = interval
        else:
            report.notes[name] = str(note)
    return report
