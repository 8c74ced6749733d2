"""Paired comparisons of two predictions tables: differences with intervals and tests.

:func:`paired_difference` compares two lined-up tables on one metric (the leaderboard's test
against the best model uses it too). :func:`compare_runs` compares two evaluated runs: the clean
rows of both predictions tables are lined up sample by sample
(:func:`~polymodal.evaluate.pairing.pair_tables`, the rule of every paired comparison); runs of
another task, on other samples or with other targets are refused. For every scalar metric the
difference A - B gets a paired-bootstrap interval and p-value (the same resamples drive both
runs); for multiclass accuracy McNemar's test is added. Generation runs are compared by
:func:`~polymodal.evaluate.generation.compare.compare_generation` (corpus scores recomputed per
resample of sentences).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from polymodal.errors import PolymodalError
from polymodal.evaluate.metrics import create_metric, default_metrics, inputs_from_table
from polymodal.evaluate.pairing import clean_rows, pair_tables
from polymodal.evaluate.stats import mcnemar, paired_bootstrap
from polymodal.rundir.layout import METRICS_FILE, PREDICTIONS_FILE

TestName = Literal["auto", "bootstrap", "mcnemar"]


@dataclass(frozen=True)
class PairedDifference:
    """``metric(A) - metric(B)`` on paired samples: its interval and the test's p-value."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    samples: int


def _correct(table: pd.DataFrame) -> Any:
    """Whether each prediction is right ``bool[n]``."""
    return table["prediction"].to_numpy() == table["target"].to_numpy()


def paired_difference(
    tables: tuple[pd.DataFrame, pd.DataFrame],
    task: str,
    metric: str,
    *,
    test: TestName = "auto",
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Paired comparison of A (``tables[0]``) with B (``tables[1]``), lined up row by row
    (:func:`~polymodal.evaluate.pairing.pair_tables`).

    ``delta = metric(A) - metric(B)`` with a paired bootstrap interval; p from McNemar's test
    when ``test`` is "mcnemar", or "auto" with accuracy of a multiclass task, else from the
    paired bootstrap. Task ``generation``: the corpus metric recomputed from each resample's
    per-sample statistics (``stats_<family>`` columns), as sacrebleu's paired bootstrap does.
    """
    table_a, table_b = tables
    if task == "generation":  # corpus metrics recomputed from the per-sample statistics
        from polymodal.evaluate.generation import generation_metric
        from polymodal.evaluate.generation import inputs_from_table as texts_inputs

        scorer: Any = generation_metric(metric)
        inputs_a, inputs_b = texts_inputs(table_a), texts_inputs(table_b)
    else:
        scorer = create_metric(metric)
        inputs_a, inputs_b = inputs_from_table(table_a, task), inputs_from_table(table_b, task)
    n = len(table_a)
    boot = paired_bootstrap(
        scorer, inputs_a, inputs_b, n, resamples=resamples, level=level, seed=seed
    )
    use_mcnemar = task == "multiclass" and (
        test == "mcnemar" or (test == "auto" and metric == "accuracy")
    )
    if use_mcnemar:
        p_value, name = mcnemar(_correct(table_a), _correct(table_b)).p_value, "mcnemar"
    else:
        p_value, name = boot.p_value, "bootstrap"
    return PairedDifference(boot.difference, boot.ci_low, boot.ci_high, float(p_value), name, n)


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
    return clean_rows(pd.read_parquet(table_path)), json.loads(metrics_path.read_text())


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
    where = f"{run_a} vs {run_b}"
    if info_a["task"] != info_b["task"]:
        raise PolymodalError(
            f"the two runs have different tasks ({info_a['task']} and {info_b['task']})",
            where=where,
            fix="compare runs evaluated on the same dataset and split",
        )
    if info_a["task"] == "generation":
        from polymodal.evaluate.generation.compare import compare_generation

        rows = compare_generation(
            table_a, table_b, info_a, where=where, resamples=resamples, level=level, seed=seed
        )
        return Comparison(str(run_a), str(run_b), len(table_a), rows, None)
    table_a, table_b = pair_tables(table_a, table_b, names=("A", "B"), where=where)
    task = info_a["task"]
    inputs_a, inputs_b = inputs_from_table(table_a, task), inputs_from_table(table_b, task)
    options = {"resamples": resamples, "level": level, "seed": seed}
    rows = []
    for name in metrics or default_metrics(task):
        metric = create_metric(name)
        if not metric.scalar:
            continue
        diff = paired_difference((table_a, table_b), task, name, test="bootstrap", **options)
        rows.append(
            {
                "metric": name,
                "a": float(metric.compute(inputs_a)),
                "b": float(metric.compute(inputs_b)),
                "difference": diff.delta,
                "ci_low": diff.ci_low,
                "ci_high": diff.ci_high,
                "p_value": diff.p_value,
                "level": level,
                "higher_is_better": metric.higher_is_better,
            }
        )
    test = None
    if task == "multiclass":
        m = mcnemar(_correct(table_a), _correct(table_b))
        test = {"method": m.method, "b": m.b, "c": m.c, "p_value": m.p_value}
    return Comparison(str(run_a), str(run_b), len(table_a), rows, test)
