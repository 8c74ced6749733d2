"""The report of a benchmark directory: ``report.md`` and one self-contained ``report.html``.

A benchmark report holds, in this order: the leaderboard of every dataset; efficiency against the
primary metric with its Pareto front; robustness (relative robustness per model and perturbation,
and the curves of every model); modality contribution (Shapley and leave-one-out); calibration
(expected calibration error); examples of generation datasets (a few fixed test samples: photo,
references and each model's output, :mod:`polymodal.bench.report_examples`); per-model details
(every metric over seeds with intervals, confusion matrix, reliability diagram, the model's own
robustness and contribution plots); the runs (status, config hash, time) with the ``config.yaml``
and ``env.json`` of every run; and a summary of the environments. Each section appears when the
cells measured it.

It reads the results store, the leaderboard and the spec, so it lives in the bench layer; both
files are rendered from the same blocks (:mod:`polymodal.report.blocks`): the Markdown links the
PNG files (relative to the report), the HTML embeds them. Plots made for the benchmark as a whole
go to ``BENCH_DIR/plots/``. :func:`run_and_report` runs a benchmark and then writes its report
(what ``polymodal bench`` does); :func:`write_report` is ``polymodal report PATH``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from polymodal.bench.leaderboard import (
    CellResult,
    Leaderboard,
    build_leaderboard,
    load_cell_results,
    table_cells,
)
from polymodal.bench.report_examples import generation_example_blocks
from polymodal.bench.runner import BenchmarkFailed, BenchResult, error_summary, run_benchmark
from polymodal.bench.spec import BenchSpec, slug
from polymodal.bench.store import DEFAULT_LEASE_S, CellRecord, is_bench_dir, open_store
from polymodal.errors import PolymodalError
from polymodal.report.blocks import Block, BulletList, Heading, Image, Paragraph, table
from polymodal.report.files import WrittenReport, write_report_files
from polymodal.report.labels import EFFICIENCY
from polymodal.report.markdown import fmt
from polymodal.report.run_report import (
    config_and_env,
    interval_text,
    run_images,
    write_run_report,
)

if TYPE_CHECKING:
    from rich.console import Console

    from polymodal.bench.executor_base import Executor

PLOTS_DIR = "plots"


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def _mean(values: Sequence[Any]) -> float | None:
    finite = _finite(values)
    return float(np.mean(finite)) if finite else None


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
        cost_label = EFFICIENCY["latency_ms_p50_bs1" if use_latency else "params_total"].label
        path = plot_efficiency_scatter(
            points,
            cost_label,
            f"{metric} (mean over seeds)",
            plots / f"efficiency_{slug(dataset)}.png",
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
                plots / f"robustness_{slug(dataset)}.png",
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
                    + interval_text((c.payload.get("intervals") or {}).get(name))
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
                *run_images(
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
        block = config_and_env(bench.bench_dir / record.run_path, record.key)
        if block is not None:
            details.append(block)
    header = ["cell", "status", "starts", "config hash", "time (s)", "run directory"]
    return [Heading("Runs", 2), table(header, rows), *details]


def _environment_blocks(bench: _Bench) -> list[Block]:
    combos: dict[tuple[str, ...], int] = {}
    for record in bench.records:
        path = bench.bench_dir / record.run_path / "env.json"
        if not path.is_file():
            continue
        env = json.loads(path.read_text(encoding="utf-8"))
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
        *generation_example_blocks(bench.by_dataset(), plots),
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
    written = write_report_files(blocks, bench_dir, title)
    return WrittenReport(written.markdown, written.html, board.to_markdown())


def run_and_report(
    spec: BenchSpec,
    bench_dir: str | Path,
    *,
    rerun: bool = False,
    lease_s: float = DEFAULT_LEASE_S,
    heartbeat_s: float | None = None,
    console: Console | None = None,
    store: str | None = None,
    executor: Executor | None = None,
) -> BenchResult:
    """:func:`~polymodal.bench.runner.run_benchmark` (same arguments), then write the report.

    This is ``polymodal bench``: the report (``report.md``, ``report.html``) is written when
    every cell has run, also when some failed; the result carries the leaderboard as Markdown
    and the report's paths.

    Raises:
        ConfigError: an invalid cell config.
        BenchmarkFailed: after the report, when some cells failed.
    """
    options = {"rerun": rerun, "lease_s": lease_s, "heartbeat_s": heartbeat_s, "store": store}
    options["executor"] = executor
    try:
        result = run_benchmark(spec, bench_dir, **options, console=console)
    except BenchmarkFailed:
        write_bench_report(bench_dir)
        raise
    written = write_bench_report(bench_dir)
    result.report_paths = {"markdown": written.markdown, "html": written.html}
    result.leaderboard_markdown = written.leaderboard_markdown
    return result


def write_report(path: str | Path) -> WrittenReport:
    """The report of a benchmark directory (``results.sqlite``) or of a run (``config.yaml``).

    Raises:
        PolymodalError: ``path`` is neither.
    """
    path = Path(path)
    if is_bench_dir(path):
        return write_bench_report(path)
    if (path / "config.yaml").is_file():
        return write_run_report(path)
    raise PolymodalError(
        "neither a benchmark directory (results.sqlite) nor a run directory (config.yaml)",
        where=str(path),
        fix="give a directory written by `polymodal bench` or `polymodal train`",
    )
