"""Reports of a benchmark directory or a run directory: ``report.md`` and one ``report.html``.

A benchmark report holds, in this order: the leaderboard of every dataset; efficiency against
the primary metric with its Pareto front; robustness (relative robustness per model and
perturbation, and the curves of every model); modality contribution (Shapley and leave-one-out);
calibration (expected calibration error); per-model details (every metric over seeds with
intervals, confusion matrix, reliability diagram, the model's own robustness and contribution
plots); the runs (status, config hash, time) with the ``config.yaml`` and ``env.json`` of every
run; and a summary of the environments. Each section appears when the cells measured it.

Both files are rendered from the same blocks (:mod:`polymodal.report.html`): the Markdown links
the PNG files (relative to the report), the HTML embeds them, so ``report.html`` is one
self-contained file. Plots made for the benchmark as a whole go to ``BENCH_DIR/plots/``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.bench.leaderboard import (
    CellResult,
    Leaderboard,
    build_leaderboard,
    load_cell_results,
    table_cells,
)
from polymodal.bench.runner import error_summary
from polymodal.bench.store import CellRecord, open_store
from polymodal.errors import PolymodalError
from polymodal.io import write_text_atomic
from polymodal.report.html import (
    Block,
    BulletList,
    Code,
    Details,
    Heading,
    Image,
    Paragraph,
    Table,
    render_html,
    table,
)
from polymodal.report.markdown import fmt

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"
RUN_PLOTS = (
    ("confusion_matrix", "Confusion matrix"),
    ("reliability", "Reliability diagram"),
    ("robustness", "Robustness curves"),
    ("contribution", "Modality contribution"),
)


@dataclass(frozen=True)
class WrittenReport:
    """Where a report was written, and (for a benchmark) its leaderboard as Markdown."""

    markdown: Path
    html: Path
    leaderboard_markdown: str = ""


# ------------------------------------------------------------------------------------------
# Markdown rendering of blocks


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _block_markdown(block: Block, base: Path) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return f"*{block.text}*" if block.note else block.text
    if isinstance(block, BulletList):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(_md_cell(h) for h in block.header) + " |"]
        lines.append("|" + "---|" * len(block.header))
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Image):
        link = Path(os.path.relpath(block.path, base)).as_posix()
        caption = f"\n\n*{block.caption}*" if block.caption else ""
        return f"![{block.alt}]({link}){caption}"
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text.rstrip()}\n```"
    if isinstance(block, Details):
        inner = "\n\n".join(_block_markdown(b, base) for b in block.blocks)
        return f"<details><summary>{block.summary}</summary>\n\n{inner}\n\n</details>"
    raise TypeError(f"not a report block: {type(block).__name__}")


def render_markdown(blocks: Sequence[Block], base: Path) -> str:
    """Markdown of ``blocks``; image links are relative to ``base`` (the report's folder)."""
    return "\n\n".join(_block_markdown(b, Path(base)) for b in blocks) + "\n"


# ------------------------------------------------------------------------------------------
# Shared pieces


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def _mean(values: Sequence[Any]) -> float | None:
    finite = _finite(values)
    return float(np.mean(finite)) if finite else None


def _interval_text(interval: dict[str, float] | None) -> str:
    return "-" if not interval else f"[{interval['low']:.4f}, {interval['high']:.4f}]"


def _read_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _config_and_env(run_dir: Path, label: str) -> Details | None:
    """``config.yaml`` and ``env.json`` of a run, collapsed."""
    blocks: list[Block] = []
    config = _read_text(run_dir / "config.yaml")
    if config is not None:
        blocks += [Paragraph("`config.yaml`"), Code(config, "yaml")]
    env = _read_text(run_dir / "env.json")
    if env is not None:
        blocks += [Paragraph("`env.json`"), Code(env, "json")]
    return Details(f"{label}: config and environment", tuple(blocks)) if blocks else None


def _run_images(payload: dict[str, Any], run_dir: Path, prefix: str = "") -> list[Block]:
    plots = payload.get("plots") or {}
    out: list[Block] = []
    for key, title in RUN_PLOTS:
        path = run_dir / plots[key] if key in plots else None
        if path is not None and path.is_file():
            out.append(Image(path, f"{prefix}{title}", f"{prefix}{title}"))
    return out


def _metrics_table(payload: dict[str, Any]) -> Table:
    intervals = payload.get("intervals") or {}
    level = next(iter(intervals.values()))["level"] if intervals else None
    header = ["metric", "value"] + ([f"{level:.0%} CI (bootstrap)"] if level else [])
    rows = []
    for name, value in (payload.get("metrics") or {}).items():
        if isinstance(value, (int, float)):
            row = [name, fmt(value)]
            if level:
                row.append(_interval_text(intervals.get(name)))
            rows.append(row)
    return table(header, rows)


def _robustness_rows(summary: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            str(r["modality"]),
            str(r["kind"]),
            fmt(r.get("clean")),
            fmt(r.get("worst")),
            fmt(r.get("relative_robustness")),
        ]
        for r in summary
    ]


EFFICIENCY_KEYS = (
    ("params_total", "parameters"),
    ("flops_per_sample", "FLOPs per sample"),
    ("latency_ms_p50_bs1", "latency p50, batch 1 (ms)"),
    ("latency_ms_p95_bs1", "latency p95, batch 1 (ms)"),
    ("throughput_samples_per_s", "throughput (samples/s)"),
    ("peak_memory_bytes", "peak memory of a forward (bytes)"),
    ("training_seconds", "training time (s)"),
)


# ------------------------------------------------------------------------------------------
# Run report


def run_blocks(payload: dict[str, Any], run_dir: Path) -> list[Block]:
    """The blocks of one evaluated run's report (what ``report.html`` of a run shows)."""
    blocks: list[Block] = [
        Heading(str(payload.get("run", run_dir.name)), 1),
        BulletList(
            (
                f"dataset `{payload.get('dataset')}`, split `{payload.get('split')}`, "
                f"{payload.get('num_samples')} samples, task {payload.get('task')}",
                f"primary metric `{payload.get('primary_metric')}` "
                f"({'higher' if payload.get('higher_is_better', True) else 'lower'} is better)",
            )
        ),
        Heading("Metrics", 2),
        _metrics_table(payload),
    ]
    images = _run_images(payload, run_dir)
    if images:
        blocks += [Heading("Plots", 2), *images]
    robustness = payload.get("robustness")
    if robustness:
        blocks += [
            Heading(f"Robustness ({robustness['metric']})", 2),
            table(
                ["modality", "perturbation", "clean", "worst", "relative robustness"],
                _robustness_rows(robustness["summary"]),
            ),
        ]
    contribution = payload.get("contribution")
    if contribution:
        blocks += [
            Heading(f"Modality contribution ({contribution['metric']})", 2),
            table(
                ["modality", "Shapley value", "leave-one-out"],
                [
                    [r["modality"], fmt(r["shapley"]), fmt(r["leave_one_out"])]
                    for r in contribution["values"]
                ],
            ),
        ]
    efficiency = payload.get("efficiency")
    if efficiency:
        blocks += [
            Heading("Efficiency", 2),
            table(
                ["measure", "value"],
                [[label, fmt(efficiency.get(k))] for k, label in EFFICIENCY_KEYS],
            ),
        ]
    details = _config_and_env(run_dir, str(payload.get("run", run_dir.name)))
    if details is not None:
        blocks += [Heading("Config and environment", 2), details]
    return blocks


def write_run_report(run_dir: str | Path) -> WrittenReport:
    """Write ``report.md`` (as ``polymodal evaluate`` does) and ``report.html`` of a run.

    Raises:
        PolymodalError: the run has not been evaluated (no ``metrics.json``).
    """
    import yaml

    from polymodal.config import parse_config
    from polymodal.report.markdown import render_run_report

    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise PolymodalError(
            "the run has not been evaluated (no metrics.json)",
            where=str(run_dir),
            fix=f"run `polymodal evaluate {run_dir}` first",
        )
    payload = json.loads(metrics_path.read_text(encoding="utf-8"))
    config_path = run_dir / "config.yaml"
    config = parse_config(
        yaml.safe_load(config_path.read_text(encoding="utf-8")),
        source=str(config_path),
        check_components=False,
    )
    markdown_path, html_path = run_dir / REPORT_MD, run_dir / REPORT_HTML
    write_text_atomic(markdown_path, render_run_report(payload, config))
    title = f"polymodal run {payload.get('run', run_dir.name)}"
    write_text_atomic(html_path, render_html(title, run_blocks(payload, run_dir)))
    return WrittenReport(markdown_path, html_path)


# ------------------------------------------------------------------------------------------
# Benchmark report


@dataclass
class _Bench:
    """Everything a benchmark report is made from."""

    bench_dir: Path
    name: str
    spec: dict[str, Any]
    records: list[CellRecord]
    results: list[CellResult]
    board: Leaderboard

    def by_dataset(self) -> dict[str, dict[str, list[CellResult]]]:
        """Finished cells per dataset, then per model (benchmark order), seeds sorted."""
        out: dict[str, dict[str, list[CellResult]]] = {}
        for cell in self.results:
            out.setdefault(cell.dataset, {}).setdefault(cell.model, []).append(cell)
        for models in out.values():
            for cells in models.values():
                cells.sort(key=lambda c: c.seed)
        return out

    def run_dir(self, cell: CellResult) -> Path:
        record = next(
            r
            for r in self.records
            if (r.dataset, r.model, r.seed) == (cell.dataset, cell.model, cell.seed)
        )
        return self.bench_dir / record.run_path


def _summary_blocks(bench: _Bench) -> list[Block]:
    statuses = {
        s: sum(r.status == s for r in bench.records)
        for s in ("done", "failed", "pending", "running")
    }
    datasets = list(dict.fromkeys(r.dataset for r in bench.records))
    models = list(dict.fromkeys(r.model for r in bench.records))
    seeds = sorted({r.seed for r in bench.records})
    split = (bench.spec.get("eval") or {}).get("split", "test")
    text = (
        f"{statuses['done']} of {len(bench.records)} cells finished ({len(datasets)} datasets × "
        f"{len(models)} models × {len(seeds)} seeds), evaluated on the `{split}` split."
    )
    unfinished = [f"{statuses[s]} {s}" for s in ("failed", "pending", "running") if statuses[s]]
    if unfinished:
        text += f" Not finished: {', '.join(unfinished)}."
    return [Heading(f"Benchmark {bench.name}", 1), Paragraph(text)]


def _leaderboard_blocks(board: Leaderboard) -> list[Block]:
    blocks: list[Block] = [Heading("Leaderboard", 2)]
    if not board.rows:
        return [*blocks, Paragraph("No finished cells yet.")]
    for (dataset, task), rows in board.groups().items():
        first = rows[0]
        direction = "higher is better" if first.higher_is_better else "lower is better"
        header, body = table_cells(rows, board.level)
        blocks += [
            Heading(f"{dataset} ({task}): {first.metric}, {direction}", 3),
            table(header, body),
        ]
    blocks.append(Paragraph(board.legend(), note=True))
    if board.notes:
        blocks.append(BulletList(tuple(board.notes)))
    return blocks


def _efficiency_blocks(bench: _Bench, plots: Path) -> list[Block]:
    from polymodal.report.plots import pareto_front, plot_efficiency_scatter

    blocks: list[Block] = []
    for (dataset, _), rows in bench.board.groups().items():
        use_latency = any(r.latency_ms_p50 is not None for r in rows)
        column = "latency_ms_p50" if use_latency else "params"
        points = pd.DataFrame(
            {
                "model": [r.model for r in rows],
                "cost": [
                    getattr(r, column) if getattr(r, column) is not None else math.nan for r in rows
                ],
                "score": [r.mean if r.higher_is_better else -r.mean for r in rows],
            }
        )
        finite = np.isfinite(points["cost"].to_numpy(dtype=float)) & np.isfinite(points["score"])
        if not finite.any():
            continue
        metric = rows[0].metric if rows[0].higher_is_better else f"-{rows[0].metric}"
        cost_label = "latency p50, batch 1 (ms)" if use_latency else "parameters"
        path = plot_efficiency_scatter(
            points,
            cost_label,
            f"{metric} (mean over seeds)",
            plots / f"efficiency_{_slug(dataset)}.png",
            log_cost=not use_latency,
            title=f"{dataset}: {metric} against {cost_label}",
        )
        front = [points["model"].iloc[i] for i in pareto_front(points)]
        blocks += [
            Heading(dataset, 3),
            Image(path, f"Efficiency and {metric} on {dataset}"),
            Paragraph(f"Pareto front (cheapest for its {metric}): {', '.join(front)}."),
        ]
    return [Heading("Efficiency and accuracy", 2), *blocks] if blocks else []


def _slug(text: str) -> str:
    from polymodal.bench.spec import slug

    return slug(text)


def _robustness_blocks(bench: _Bench, plots: Path) -> list[Block]:
    from polymodal.report.plots import plot_robustness_curves

    blocks: list[Block] = []
    for dataset, models in bench.by_dataset().items():
        rows, curves, metric = [], [], None
        for model, cells in models.items():
            payloads = [c.payload["robustness"] for c in cells if c.payload.get("robustness")]
            if not payloads:
                continue
            metric = payloads[0]["metric"]
            summary = pd.DataFrame([r for p in payloads for r in p["summary"]])
            for (modality, kind), part in summary.groupby(["modality", "kind"], sort=False):
                means = [_mean(list(part[c])) for c in ("clean", "worst", "relative_robustness")]
                rows.append([model, str(modality), str(kind), *map(fmt, means)])
            frame = pd.DataFrame([r for p in payloads for r in p["curves"]])
            if not frame.empty:
                mean = frame.groupby(["modality", "kind", "severity"], sort=False)["value"].mean()
                curves.append(mean.reset_index().assign(model=model))
        if not rows:
            continue
        header = ["model", "modality", "perturbation", "clean", "worst", "relative robustness"]
        blocks += [Heading(dataset, 3), table(header, rows)]
        if curves:
            path = plot_robustness_curves(
                pd.concat(curves, ignore_index=True),
                str(metric),
                plots / f"robustness_{_slug(dataset)}.png",
                title=f"Robustness on {dataset} (mean over seeds)",
            )
            blocks.append(Image(path, f"Robustness curves on {dataset}"))
    return [Heading("Robustness", 2), *blocks] if blocks else []


def _contribution_blocks(bench: _Bench) -> list[Block]:
    blocks: list[Block] = []
    for dataset, models in bench.by_dataset().items():
        rows, metric = [], None
        for model, cells in models.items():
            payloads = [c.payload["contribution"] for c in cells if c.payload.get("contribution")]
            if not payloads:
                continue
            metric = payloads[0]["metric"]
            frame = pd.DataFrame([r for p in payloads for r in p["values"]])
            for modality, part in frame.groupby("modality", sort=False):
                rows.append(
                    [
                        model,
                        modality,
                        fmt(_mean(list(part["shapley"]))),
                        fmt(_mean(list(part["leave_one_out"]))),
                    ]
                )
        if rows:
            blocks += [
                Heading(f"{dataset} ({metric})", 3),
                table(["model", "modality", "Shapley value", "leave-one-out"], rows),
            ]
    if not blocks:
        return []
    note = Paragraph("Means over seeds, in the units of the metric.", note=True)
    return [Heading("Modality contribution", 2), note, *blocks]


def _calibration_blocks(bench: _Bench) -> list[Block]:
    from polymodal.evaluate.metrics import create_metric, inputs_from_table

    ece = create_metric("ece")
    blocks: list[Block] = []
    for dataset, models in bench.by_dataset().items():
        rows = []
        for model, cells in models.items():
            values = []
            for cell in cells:
                clean = cell.clean_table()
                if cell.payload.get("task") == "multiclass" and clean is not None and len(clean):
                    values.append(float(ece.compute(inputs_from_table(clean, "multiclass"))))
            if values:
                rows.append(
                    [
                        model,
                        str(len(values)),
                        fmt(_mean(values)),
                        fmt(min(values)),
                        fmt(max(values)),
                    ]
                )
        if rows:
            blocks += [
                Heading(dataset, 3),
                table(["model", "seeds", "ECE (mean)", "min", "max"], rows),
            ]
    if not blocks:
        return []
    note = Paragraph(
        "Expected calibration error (15 equal-width confidence bins, lower is better); "
        "reliability diagrams are in the model details.",
        note=True,
    )
    return [Heading("Calibration", 2), note, *blocks]


def _model_blocks(bench: _Bench) -> list[Block]:
    from polymodal.evaluate.stats import aggregate_seeds

    blocks: list[Block] = [Heading("Models", 2)]
    for dataset, models in bench.by_dataset().items():
        for model, cells in models.items():
            names = [
                k
                for k, v in cells[0].payload.get("metrics", {}).items()
                if isinstance(v, (int, float))
            ]
            rows = []
            for name in names:
                values = {c.seed: c.payload["metrics"].get(name) for c in cells}
                finite = {
                    s: float(v)
                    for s, v in values.items()
                    if isinstance(v, (int, float)) and math.isfinite(v)
                }
                if not finite:
                    continue
                agg = aggregate_seeds(finite)
                mean = fmt(agg.mean) + ("" if agg.n == 1 else f" ± {fmt(agg.std)}")
                ci = "-" if agg.n == 1 else f"[{agg.ci[0]:.4f}, {agg.ci[1]:.4f}]"
                per_seed = "; ".join(
                    f"s{c.seed}: {fmt(finite.get(c.seed))} "
                    + _interval_text((c.payload.get("intervals") or {}).get(name))
                    for c in cells
                )
                rows.append([name, mean, ci, per_seed])
            first = cells[0]
            blocks += [
                Heading(f"{dataset} / {model}", 3),
                table(
                    [
                        "metric",
                        "mean ± std over seeds",
                        "95% CI (t over seeds)",
                        "per seed [95% bootstrap CI]",
                    ],
                    rows,
                ),
                *_run_images(
                    first.payload, bench.run_dir(first), prefix=f"{model}, seed {first.seed}: "
                ),
            ]
    return blocks if len(blocks) > 1 else []


def _run_blocks(bench: _Bench) -> list[Block]:
    rows = []
    details: list[Block] = []
    for record in bench.records:
        duration = (
            f"{record.finished - record.started:.1f}"
            if record.status == "done" and record.finished and record.started
            else "-"
        )
        status = record.status
        if record.status == "failed" and record.error:
            status += f": {error_summary(record.error)}"
        rows.append(
            [
                record.key,
                status,
                str(record.starts),
                record.config_hash,
                duration,
                f"`{record.run_path}`",
            ]
        )
        block = _config_and_env(bench.bench_dir / record.run_path, record.key)
        if block is not None:
            details.append(block)
    header = ["cell", "status", "starts", "config hash", "time (s)", "run directory"]
    return [Heading("Runs", 2), table(header, rows), *details]


def _environment_blocks(bench: _Bench) -> list[Block]:
    combos: dict[tuple[str, ...], int] = {}
    for record in bench.records:
        text = _read_text(bench.bench_dir / record.run_path / "env.json")
        if text is None:
            continue
        env = json.loads(text)
        packages = env.get("packages") or {}
        git = env.get("git") or {}
        revision = git.get("revision")
        key = (
            str((env.get("python") or {}).get("version")),
            str(packages.get("torch")),
            str(packages.get("lightning")),
            str((env.get("platform") or {}).get("platform")),
            str(env.get("hostname")),
            "-" if not revision else f"{revision[:10]}{' (dirty)' if git.get('dirty') else ''}",
        )
        combos[key] = combos.get(key, 0) + 1
    if not combos:
        return []
    header = ["python", "torch", "lightning", "platform", "host", "git revision", "runs"]
    rows = [[*key, str(count)] for key, count in combos.items()]
    return [Heading("Environment", 2), table(header, rows)]


def bench_blocks(bench_dir: str | Path, board: Leaderboard | None = None) -> list[Block]:
    """Every block of a benchmark's report (plots are written to ``BENCH_DIR/plots/``)."""
    bench_dir = Path(bench_dir)
    with open_store(bench_dir) as store:
        records = store.cells()
        spec_text = store.get_meta("spec")
    spec = json.loads(spec_text) if spec_text else {}
    results = load_cell_results(bench_dir)
    bench = _Bench(
        bench_dir,
        str(spec.get("name", bench_dir.name)),
        spec,
        records,
        results,
        board if board is not None else build_leaderboard(bench_dir),
    )
    plots = bench_dir / PLOTS_DIR
    return [
        *_summary_blocks(bench),
        *_leaderboard_blocks(bench.board),
        *_efficiency_blocks(bench, plots),
        *_robustness_blocks(bench, plots),
        *_contribution_blocks(bench),
        *_calibration_blocks(bench),
        *_model_blocks(bench),
        *_run_blocks(bench),
        *_environment_blocks(bench),
    ]


def write_bench_report(bench_dir: str | Path) -> WrittenReport:
    """Write ``report.md`` and ``report.html`` of a benchmark directory."""
    bench_dir = Path(bench_dir)
    board = build_leaderboard(bench_dir)
    blocks = bench_blocks(bench_dir, board)
    title = blocks[0].text if isinstance(blocks[0], Heading) else "polymodal benchmark"
    markdown_path, html_path = bench_dir / REPORT_MD, bench_dir / REPORT_HTML
    write_text_atomic(markdown_path, render_markdown(blocks, bench_dir))
    write_text_atomic(html_path, render_html(title, blocks))
    return WrittenReport(markdown_path, html_path, board.to_markdown())


def write_report(path: str | Path) -> WrittenReport:
    """The report of a benchmark directory (``results.sqlite``) or of a run (``metrics.json``).

    Raises:
        PolymodalError: ``path`` is neither.
    """
    from polymodal.bench.store import STORE_FILE

    path = Path(path)
    if (path / STORE_FILE).is_file():
        return write_bench_report(path)
    if (path / "config.yaml").is_file():
        return write_run_report(path)
    raise PolymodalError(
        "neither a benchmark directory (results.sqlite) nor a run directory (config.yaml)",
        where=str(path),
        fix="give a directory written by `polymodal bench` or `polymodal train`",
    )
