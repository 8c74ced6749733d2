"""Run a benchmark cell by cell into a benchmark directory and tabulate the results.

Layout: ``BENCH_DIR/runs/<cell>/`` holds each cell's run directory; ``BENCH_DIR/report.md`` the
comparison table. A cell whose ``metrics.json`` exists is finished and is not run again unless
``rerun`` is set, so an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polymodal.bench.spec import BenchSpec, cell_config, dataset_label
from polymodal.io import write_text_atomic


@dataclass
class BenchResult:
    """Per-cell metrics, the comparison table and where the report is."""

    bench_dir: Path
    cells: list[dict[str, Any]] = field(default_factory=list)
    table_markdown: str = ""
    report_path: Path | None = None


def _log(message: str) -> None:
    print(message, flush=True)


def run_benchmark(spec: BenchSpec, bench_dir: str | Path, *, rerun: bool = False) -> BenchResult:
    """Train and evaluate every cell of ``spec`` into ``bench_dir`` and write ``report.md``."""
    from polymodal.evaluate.run import evaluate_run
    from polymodal.train.run import train

    bench_dir = Path(bench_dir)
    cells = [
        (data, model_name, seed)
        for data in spec.datasets
        for model_name in spec.models
        for seed in spec.seeds
    ]
    result = BenchResult(bench_dir)
    start = time.perf_counter()
    for index, (data, model_name, seed) in enumerate(cells, start=1):
        config = cell_config(spec, data, model_name, seed)
        run_dir = bench_dir / "runs" / (config.name or f"cell{index}")
        label = f"[{index}/{len(cells)}] {dataset_label(data)} / {model_name} / seed {seed}"
        metrics_path = run_dir / "metrics.json"
        if metrics_path.is_file() and not rerun:
            _log(f"{label}: finished earlier, kept")
        else:
            if run_dir.exists():
                shutil.rmtree(run_dir)  # an unfinished or re-run cell starts clean
            _log(f"{label}: training ...")
            cell_start = time.perf_counter()
            train(config, run_dir)
            evaluation = evaluate_run(run_dir)
            primary = next(iter(evaluation.metrics.items()))
            _log(
                f"{label}: {primary[0]} {primary[1]:.4f} ({time.perf_counter() - cell_start:.1f} s)"
            )
        payload = json.loads(metrics_path.read_text())
        result.cells.append(
            {**payload, "dataset": dataset_label(data), "model": model_name, "seed": seed}
        )
    result.table_markdown = comparison_table(result.cells)
    report = [
        f"# Benchmark {spec.name}",
        "",
        f"{len(cells)} cells ({len(spec.datasets)} datasets x {len(spec.models)} models x "
        f"{len(spec.seeds)} seeds), test split; mean and standard deviation over seeds.",
        "",
        result.table_markdown,
        "",
        f"Total time: {time.perf_counter() - start:.1f} s. Run directories: `runs/`.",
    ]
    result.report_path = bench_dir / "report.md"
    write_text_atomic(result.report_path, "\n".join(report) + "\n")
    return result


def comparison_table(cells: list[dict[str, Any]]) -> str:
    """Markdown table: one row per dataset and model, primary metric mean (std) over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["dataset"], cell["model"]), []).append(cell)
    metric_names: list[str] = []
    for cell in cells:
        for name, value in cell["metrics"].items():
            if isinstance(value, (int, float)) and name not in metric_names:
                metric_names.append(name)
    shown = metric_names[:3]
    lines = [
        "| dataset | model | seeds | " + " | ".join(shown) + " |",
        "|---|---|---|" + "---|" * len(shown),
    ]
    for (dataset, model), group in groups.items():
        values = []
        for name in shown:
            numbers = [c["metrics"][name] for c in group if name in c["metrics"]]
            if not numbers:
                values.append("")
            elif len(numbers) == 1:
                values.append(f"{numbers[0]:.4f}")
            else:
                values.append(f"{statistics.mean(numbers):.4f} ± {statistics.stdev(numbers):.4f}")
        lines.append(f"| {dataset} | {model} | {len(group)} | " + " | ".join(values) + " |")
    return "\n".join(lines)
