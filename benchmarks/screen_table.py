"""The table a screen through the bench chooses on: per model, validation and test accuracy.

For every model of a benchmark directory: the validation accuracy the trainer logged, averaged
over the last three epochs of each cell (``runs/<cell>/logs/metrics.jsonl``, ``val/accuracy``),
and the test accuracy of the evaluated weights (``metrics.json``), each as mean ± std over the
cells (seeds). The choice among variants is made on the first column; the second is for the
record (E10 of ``docs/experiments/preset-quality.md``)::

    python benchmarks/screen_table.py runs/screen-early
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from polymodal.rundir.layout import METRICS_FILE

LOG = Path("logs") / "metrics.jsonl"


def validation_last3(run_dir: Path) -> float:
    """Mean ``val/accuracy`` of the last three logged epochs of a run."""
    lines = (run_dir / LOG).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    values = [r["val/accuracy"] for r in records if "val/accuracy" in r]
    return statistics.mean(values[-3:])


def rows(bench_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """Model -> one ``(validation, last 3 epochs; test accuracy)`` per finished cell."""
    out: dict[str, list[tuple[float, float]]] = {}
    for run_dir in sorted((bench_dir / "runs").iterdir()):
        if not (run_dir / METRICS_FILE).is_file():
            continue
        model = run_dir.name.split("__")[1]
        test = json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))
        pair = (validation_last3(run_dir), test["metrics"]["accuracy"])
        out.setdefault(model, []).append(pair)
    return out


def _cell(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_dir", type=Path)
    args = parser.parse_args(argv)
    print("| model | cells | val, last 3 | test, last epoch |")
    print("|---|---|---|---|")
    for model, cells in rows(args.bench_dir).items():
        val, test = [c[0] for c in cells], [c[1] for c in cells]
        print(f"| {model} | {len(cells)} | {_cell(val)} | {_cell(test)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
