"""Compare two evaluated runs on the same samples: paired differences with intervals and tests.

Both runs' predictions tables are aligned by sample id (clean rows only); a run evaluated on other
samples, or with other targets, is refused. For every scalar metric the difference A - B gets a
paired-bootstrap interval and p-value (the same resamples drive both runs); for multiclass
accuracy McNemar's test is added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.errors import PolymodalError
from polymodal.evaluate.metrics import create_metric, default_metrics, inputs_from_table
from polymodal.evaluate.stats import mcnemar, paired_bootstrap
from polymodal.rundir.layout import METRICS_FILE, PREDICTIONS_FILE


@dataclass
class Comparison:
    """Paired comparison of run A against run B (one row per metric)."""

    run_a: str
    run_b: str
    num_samples: int
    rows: list[dict[str, Any]]
    mcnemar: dict[str, Any] | None

    def to_markdown(self) -> str:
        level = self.rows[0]["level"] if self.rows else 0.95
        lines = [
            f"A = `{self.run_a}`, B = `{self.run_b}`, {self.num_samples} paired samples",
            "",
            f"| metric | A | B | A - B | {level:.0%} CI (paired bootstrap) | p |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r['metric']} | {r['a']:.4f} | {r['b']:.4f} | {r['difference']:+.4f} | "
                f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['p_value']:.4f} |"
            )
        if self.mcnemar:
            m = self.mcnemar
            lines += [
                "",
                f"McNemar ({m['method']}): A right / B wrong {m['b']}, A wrong / B right "
                f"{m['c']}, p = {m['p_value']:.4f}",
            ]
        return "\n".join(lines)


def _load(run_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    table_path, metrics_path = run_dir / PREDICTIONS_FILE, run_dir / METRICS_FILE
    if not table_path.is_file() or not metrics_path.is_file():
        raise PolymodalError(
            "the run has no predictions table yet",
            where=str(run_dir),
            fix=f"evaluate it first: polymodal evaluate {run_dir}",
        )
    table = pd.read_parquet(table_path)
    clean = table[table["perturbation"] == "none"].sort_values("id").reset_index(drop=True)
    return clean, json.loads(metrics_path.read_text())


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    *,
    metrics: list[str] | None = None,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Paired comparison of two evaluated runs on the same split."""
    run_a, run_b = Path(run_a), Path(run_b)
    table_a, info_a = _load(run_a)
    table_b, info_b = _load(run_b)
    if info_a["task"] != info_b["task"] or list(table_a["id"]) != list(table_b["id"]):
        raise PolymodalError(
            "the two runs were not evaluated on the same samples",
            where=f"{run_a} vs {run_b}",
            fix="evaluate both on the same dataset and split",
        )
    task = info_a["task"]
    inputs_a, inputs_b = inputs_from_table(table_a, task), inputs_from_table(table_b, task)
    rows = []
    for name in metrics or default_metrics(task):
        metric = create_metric(name)
        if not metric.scalar:
            continue
        result = paired_bootstrap(
            metric, inputs_a, inputs_b, len(table_a), resamples=resamples, level=level, seed=seed
        )
        rows.append(
            {
                "metric": name,
                "a": float(metric.compute(inputs_a)),
                "b": float(metric.compute(inputs_b)),
                "difference": result.difference,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "p_value": result.p_value,
                "level": level,
                "higher_is_better": metric.higher_is_better,
            }
        )
    test = None
    if task == "multiclass":
        correct_a = (table_a["prediction"] == table_a["target"]).to_numpy()
        correct_b = (table_b["prediction"] == table_b["target"]).to_numpy()
        m = mcnemar(correct_a, correct_b)
        test = {"method": m.method, "b": m.b, "c": m.c, "p_value": m.p_value}
    return Comparison(str(run_a), str(run_b), len(table_a), rows, test)
