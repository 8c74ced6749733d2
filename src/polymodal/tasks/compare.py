"""Paired comparison of two models evaluated on the same task and the same samples.

Both evaluation folders must come from the same task text (same sha256) and hold the same sample
ids under the chosen template; the samples are aligned by id, and every metric gets
:func:`~polymodal.evaluate.stats.paired_bootstrap`'s difference A - B with its interval and
two-sided p-value (the same resamples for both models, Koehn 2004).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.errors import PolymodalError
from polymodal.evaluate.stats import paired_bootstrap
from polymodal.tasks.metrics import task_metric
from polymodal.tasks.runner import read_result


@dataclass(frozen=True)
class PairedRow:
    """One metric of a paired comparison."""

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    p_value: float
    higher_is_better: bool


def _aligned(folder_a: Path, folder_b: Path, template: int) -> tuple[Any, Any, dict[str, Any]]:
    table_a, meta_a = read_result(folder_a)
    table_b, meta_b = read_result(folder_b)
    if meta_a["task"]["sha256"] != meta_b["task"]["sha256"]:
        raise PolymodalError(
            "the two evaluations come from different task files (sha256 differs)",
            where=f"{folder_a} vs {folder_b}",
            fix="evaluate both models with the same task file",
        )
    a = table_a[table_a["template"] == template].set_index("id")
    b = table_b[table_b["template"] == template].set_index("id")
    if set(a.index) != set(b.index) or a.empty:
        raise PolymodalError(
            f"the two evaluations hold different samples under template {template}",
            where=f"{folder_a} vs {folder_b}",
            fix="evaluate both with the same --limit and data settings",
        )
    b = b.loc[a.index]
    return a.reset_index(), b.reset_index(), meta_a


def compare_results(
    folder_a: str | Path,
    folder_b: str | Path,
    *,
    metrics: Sequence[str] | None = None,
    template: int = 0,
    resamples: int = 2000,
    seed: int = 0,
) -> list[PairedRow]:
    """Paired bootstrap of every metric (default: the task's) between evaluations A and B."""
    a, b, meta = _aligned(Path(folder_a), Path(folder_b), template)
    output_type = meta["task"]["output"]
    rows = []
    for name in metrics or list(meta["metrics"]):
        tm = task_metric(name, output_type)
        metric, inputs_a = tm.prepare(a)
        _, inputs_b = tm.prepare(b)
        test = paired_bootstrap(metric, inputs_a, inputs_b, len(a), resamples=resamples, seed=seed)
        rows.append(
            PairedRow(
                name,
                float(metric.compute(inputs_a)),
                float(metric.compute(inputs_b)),
                test.difference,
                test.ci_low,
                test.ci_high,
                test.p_value,
                tm.higher_is_better,
            )
        )
    return rows


def comparison_markdown(rows: Sequence[PairedRow], name_a: str, name_b: str) -> str:
    """The comparison as a Markdown table."""
    lines = [
        f"| metric | {name_a} (A) | {name_b} (B) | A - B | 95% interval | p |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.metric} | {r.a:.4f} | {r.b:.4f} | {r.difference:+.4f} | "
            f"[{r.low:+.4f}, {r.high:+.4f}] | {r.p_value:.4f} |"
        )
    return "\n".join(lines) + "\n"
