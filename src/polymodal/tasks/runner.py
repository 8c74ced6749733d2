"""Evaluate a model under test on a task: predictions table, metrics with intervals, report.

For every template of the task (paraphrases), every sample is asked once; per sample the table
keeps the prompt (the chat as text, images as ``<image>``), the raw output, the extracted answer,
the references, P(yes) or the rank where they apply, the per-sample score of the first metric,
and whether the call failed (with its error). A failed call is scored as an empty answer (wrong,
P(yes) = 0.5), counted in ``metrics.json`` and listed in the report: never dropped.

``metrics.json`` holds the task (name, file, sha256 of its text), the model (its adapter's
``describe()``), how outputs were obtained (``generate`` or ``score``), the metrics of every
template with percentile bootstrap intervals, and their spread over templates
(:mod:`polymodal.tasks.sensitivity`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.adapters.base import Adapter, AdapterError, GenerationSettings, Request
from polymodal.evaluate.stats import bootstrap_ci
from polymodal.io import write_json_atomic, write_text_atomic
from polymodal.tasks.extract import extract
from polymodal.tasks.loading import LoadedTask
from polymodal.tasks.metrics import per_sample, task_metric
from polymodal.tasks.prompts import build_request, sample_choices
from polymodal.tasks.sources import TASK_SOURCES, Record, source_fields

PREDICTIONS_FILE = "predictions.parquet"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"


@dataclass(frozen=True)
class TaskResult:
    """What :func:`evaluate_task` wrote: the table and the ``metrics.json`` payload."""

    table: pd.DataFrame
    payload: dict[str, Any]
    out_dir: Path


def load_records(task: LoadedTask, limit: int | None = None) -> list[Record]:
    """The task's samples: its source's split, then a seeded subset of ``limit`` (or the task's
    ``data.limit``) in the source's order."""
    data = task.spec.data
    records = TASK_SOURCES.create(
        data.source, split=data.split, base_dir=task.base_dir, **data.params
    )
    keep = limit or data.limit
    if keep is not None and keep < len(records):
        chosen = np.sort(np.random.default_rng(data.seed).permutation(len(records))[:keep])
        records = [records[i] for i in chosen]
    return records


def choose_method(task: LoadedTask, adapter: Adapter) -> str:
    """``score`` or ``generate``: how this adapter answers this task's output type."""
    kind = task.spec.output.type
    can = adapter.capabilities
    if kind == "generate" or (kind in ("multiple_choice", "yes_no") and "score" not in can):
        if "generate" not in can:
            raise AdapterError(f"the model cannot write text, which a {kind} task needs here")
        return "generate"
    if "score" not in can:
        raise AdapterError(f"the model cannot score candidates, which a {kind} task needs")
    return "score"


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _base_row(task: LoadedTask, record: Record, request: Request, template: int) -> dict:
    target = record.fields[task.spec.output.target]
    refs = _as_list(target)
    return {
        "id": record.id, "template": template, "prompt": request.transcript(),
        "target": refs[0], "references": refs, "positive": task.spec.output.positive,
        "raw_output": "", "answer": "", "p_yes": math.nan, "rank": math.nan,
        "failed": False, "error": "",
    }  # fmt: skip


def _generated_rows(task, adapter, pairs, settings, batch_size, progress) -> list[dict]:
    spec = task.spec
    rows = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        generations = adapter.generate([req for _, req, _ in chunk], settings)
        for (record, _, row), gen in zip(chunk, generations, strict=True):
            choices = sample_choices(spec, record)
            answer = "" if gen.failed else extract(
                spec.extraction.rule, spec.extraction.params, gen.text, choices
            )  # fmt: skip
            row.update(raw_output=gen.text, answer=answer, failed=gen.failed, error=gen.error or "")
            if spec.output.type == "yes_no":
                row["p_yes"] = 1.0 if answer == spec.output.positive else 0.0 if answer else 0.5
            rows.append(row)
        progress(len(chunk))
    return rows


def _scored_row(task: LoadedTask, adapter: Adapter, record, request, row, gallery) -> dict:
    out = task.spec.output
    if out.type == "yes_no":
        scores = adapter.score(request, [out.positive, out.negative])
        p_yes = float(1.0 / (1.0 + np.exp(scores[1] - scores[0])))  # softmax over the two
        answer = out.positive if p_yes >= 0.5 else out.negative
        raw = f"score yes {scores[0]:.4f}, no {scores[1]:.4f}"
        return {**row, "p_yes": p_yes, "answer": answer, "raw_output": raw}
    if out.type == "multiple_choice":
        choices = sample_choices(task.spec, record)
        scores = adapter.score(request, [out.choice_template.format(choice=c) for c in choices])
        best = int(np.argmax(scores))
        raw = ", ".join(f"{c}: {s:.4f}" for c, s in zip(choices, scores, strict=True))
        return {**row, "answer": choices[best], "raw_output": raw}
    texts = [out.candidate_template.format(candidate=c) for c in gallery]
    scores = adapter.score(request, texts)
    order = np.argsort(-scores, kind="stable")  # ties: gallery order
    relevant = np.isin(np.asarray(gallery, dtype=object)[order], row["references"])
    rank = int(np.argmax(relevant)) + 1 if relevant.any() else len(gallery) + 1
    return {**row, "rank": float(rank), "answer": gallery[order[0]], "raw_output": f"rank {rank}"}


def _gallery(task: LoadedTask, records: Sequence[Record]) -> list[str]:
    field = task.spec.output.candidates_field
    if task.spec.output.type != "ranking" or field is None:
        return []
    return list(dict.fromkeys(v for r in records for v in _as_list(r.fields[field])))


@dataclass(frozen=True)
class RunOptions:
    """How samples are asked: ``generate`` or ``score``, requests per ``generate`` call, and an
    optional perturbation of the images (:mod:`polymodal.tasks.perturb`) with its severity and
    seed."""

    method: str
    batch_size: int
    perturbation: str | None = None
    severity: float = 1.0
    seed: int = 0


def run_template(
    task: LoadedTask, adapter: Adapter, records: Sequence[Record], template: int,
    options: RunOptions, progress: Callable[[int], None],
) -> list[dict[str, Any]]:  # fmt: skip
    """The table rows of one template: every record asked once."""
    from polymodal.tasks.perturb import perturb

    spec = task.spec
    kinds = source_fields(spec.data.source, spec.data.params.get("fields"))
    pairs = []
    for record in records:
        request = build_request(spec, record, template, kinds, task.base_dir)
        request = perturb(request, options.perturbation, options.severity, options.seed)
        pairs.append((record, request, _base_row(task, record, request, template)))
    method, batch_size = options.method, options.batch_size
    if method == "generate":
        g = spec.generation
        settings = GenerationSettings(
            g.max_new_tokens, g.temperature, g.top_p, g.seed, tuple(g.stop)
        )
        return _generated_rows(task, adapter, pairs, settings, batch_size, progress)
    gallery = _gallery(task, records)
    rows = []
    for record, request, row in pairs:
        rows.append(_scored_row(task, adapter, record, request, row, gallery))
        progress(1)
    return rows


def template_metrics(
    table: pd.DataFrame, names: Sequence[str], output_type: str, resamples: int, seed: int
) -> tuple[dict[str, float], dict[str, dict[str, Any]], np.ndarray]:
    """Metrics, their intervals and the per-sample score of the first metric, of one template."""
    values, intervals, first = {}, {}, np.full(len(table), np.nan)
    for i, name in enumerate(names):
        tm = task_metric(name, output_type)
        metric, inputs = tm.prepare(table)
        values[name] = float(metric.compute(inputs))
        if i == 0:
            first = (
                (table["answer"] == table["target"]).to_numpy(dtype=np.float64)
                if output_type == "yes_no"
                else per_sample(metric, inputs, len(table))
            )
        if resamples > 0 and len(table) >= 2:
            ci = bootstrap_ci(metric, inputs, len(table), resamples=resamples, seed=seed)
            intervals[name] = {"low": ci.low, "high": ci.high, "level": ci.level,
                               "method": ci.method, "resamples": ci.resamples}  # fmt: skip
    return values, intervals, first


def _summary(task: LoadedTask, adapter: Adapter, table: pd.DataFrame, method: str,
             per_template: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    from polymodal.tasks.sensitivity import template_spread

    failed = table[table["failed"]]
    return {
        "task": {"name": task.spec.name, "file": str(task.path), "sha256": task.sha256,
                 "output": task.spec.output.type, "extraction": task.spec.extraction.model_dump()},
        "model": adapter.describe(),
        "method": method,
        "num_samples": int(table["id"].nunique()),
        "templates": len(per_template),
        "primary_metric": task.spec.metrics[0],
        "metrics": per_template[0]["metrics"],
        "intervals": per_template[0]["intervals"],
        "per_template": per_template,
        "sensitivity": template_spread(per_template),
        "failed": {"count": len(failed), "ids": failed["id"].head(20).tolist(),
                   "errors": failed["error"].head(5).tolist()},
    }  # fmt: skip


def evaluate_task(
    task: LoadedTask,
    adapter: Adapter,
    out_dir: str | Path,
    *,
    limit: int | None = None,
    batch_size: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    perturbation: str | None = None,
    severity: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> TaskResult:
    """Ask ``adapter`` every sample of ``task`` under every template; write the predictions table,
    ``metrics.json``, ``report.md`` and ``report.html`` into ``out_dir``.

    Args:
        limit: evaluate a seeded subset of this many samples (default: the task's ``data.limit``).
        batch_size: requests per ``generate`` call (default: the task's ``batch_size``).
        resamples, seed: the percentile bootstrap of the intervals (0 resamples: none).
        perturbation, severity: change every sample's images first (``drop_image``: the blind
            baseline; ``noise_image``, ``mask_image`` at ``severity`` in [0, 1]), seeded by
            ``seed``; recorded in the table and in ``metrics.json``.
        progress: called with the number of samples done after each batch.
    """
    from polymodal.tasks.perturb import PERTURBATIONS

    method = choose_method(task, adapter)  # before any call: a model that cannot answer fails
    if perturbation is not None:
        PERTURBATIONS.get(perturbation)  # an unknown name fails here, listing the known ones
    records = load_records(task, limit)
    if not records:
        raise AdapterError("the task has no samples", where=str(task.path))
    tick = progress or (lambda n: None)
    options = RunOptions(method, batch_size or task.spec.batch_size, perturbation, severity, seed)
    tables, per_template = [], []
    for t in range(len(task.spec.prompt.templates)):
        part = pd.DataFrame(run_template(task, adapter, records, t, options, tick))
        values, intervals, score = template_metrics(
            part, task.spec.metrics, task.spec.output.type, resamples, seed
        )
        part["score"] = score
        tables.append(part)
        per_template.append({"template": t, "text": task.spec.prompt.templates[t],
                             "metrics": values, "intervals": intervals})  # fmt: skip
    table = pd.concat(tables, ignore_index=True)
    table["task_sha256"] = task.sha256
    table["perturbation"] = perturbation or "none"
    table["severity"] = severity if perturbation else 0.0
    payload = _summary(task, adapter, table, method, per_template)
    payload["perturbation"] = {
        "name": perturbation or "none",
        "severity": float(severity) if perturbation else 0.0,
    }
    return write_result(table, payload, Path(out_dir))


def write_result(table: pd.DataFrame, payload: dict[str, Any], out: Path) -> TaskResult:
    """Write the predictions table, ``metrics.json``, ``report.md`` and ``report.html``."""
    from polymodal.tasks.report import task_report

    out.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / PREDICTIONS_FILE, index=False)
    write_json_atomic(out / METRICS_FILE, payload)
    markdown, html = task_report(table, payload)
    write_text_atomic(out / REPORT_FILE, markdown)
    write_text_atomic(out / "report.html", html)
    return TaskResult(table, payload, out)


def read_result(folder: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The predictions table and ``metrics.json`` payload of an evaluated task folder."""
    from polymodal.errors import PolymodalError

    folder = Path(folder)
    if not (folder / METRICS_FILE).is_file() or not (folder / PREDICTIONS_FILE).is_file():
        raise PolymodalError(
            "not a task evaluation folder", where=str(folder),
            fix="give a folder written by `polymodal tasks run`",
        )  # fmt: skip
    payload = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    return pd.read_parquet(folder / PREDICTIONS_FILE), payload
