"""Paired comparison of two evaluated generation runs (``polymodal compare RUN_A RUN_B``).

Both predictions tables must hold the same samples (ids) with the same references. Each metric of
run A's evaluation is recomputed from the texts for both runs with A's BLEU tokenizer (read from
its sacrebleu signature) and compared by :func:`~polymodal.evaluate.stats.paired_bootstrap`:
sentences are resampled, the *corpus* score of each resample recomputed from per-sentence
statistics, the same resamples for both runs (Koehn 2004, the test sacrebleu's ``--paired-bs``
runs; :func:`~polymodal.evaluate.generation.significance.sacrebleu_paired` reproduces sacrebleu's
own resamples). Rows: metric, A, B, A - B with its interval, two-sided p-value.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from polymodal.errors import PolymodalError
from polymodal.evaluate.generation.corpus import generation_metric
from polymodal.evaluate.generation.table import add_statistics, inputs_from_table, score_texts
from polymodal.evaluate.stats import paired_bootstrap


def _bleu_tokenize(info: dict[str, Any]) -> str:
    signature = str((info.get("signatures") or {}).get("bleu", ""))
    found = re.search(r"tok:([^|]+)", signature)
    return found.group(1) if found else "13a"


def line_up(a: pd.DataFrame, b: pd.DataFrame, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables sorted by id; refused when their ids or references differ."""
    a, b = a.sort_values("id").reset_index(drop=True), b.sort_values("id").reset_index(drop=True)
    if list(a["id"]) != list(b["id"]):
        raise PolymodalError(
            "the two generation runs do not hold the same samples",
            where=where,
            fix="compare runs evaluated on the same dataset, split and limit",
        )
    differ = [i for i, (x, y) in enumerate(zip(a["references"], b["references"], strict=True))
              if list(x) != list(y)]  # fmt: skip
    if differ:
        raise PolymodalError(
            f"sample {a['id'][differ[0]]!r} has other references in the two runs",
            where=where,
            fix="compare runs evaluated on the same references",
        )
    return a, b


def compare_generation(
    table_a: pd.DataFrame,
    table_b: pd.DataFrame,
    info_a: dict[str, Any],
    *,
    where: str,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per metric of A's evaluation (see the module docs)."""
    table_a, table_b = line_up(table_a, table_b, where)
    names = list(info_a["metrics"])
    refs = [list(r) for r in table_a["references"]]
    tokenize = _bleu_tokenize(info_a)
    inputs = []
    for table in (table_a, table_b):
        hyps = [str(h) for h in table["hypothesis"]]
        stats, options = score_texts(hyps, refs, names, tokenize=tokenize)
        inputs.append(inputs_from_table(add_statistics(table, stats), options))
    rows = []
    for name in names:
        metric = generation_metric(name)
        test = paired_bootstrap(
            metric, inputs[0], inputs[1], len(table_a), resamples=resamples, level=level, seed=seed
        )
        rows.append(
            {
                "metric": name,
                "a": float(metric.compute(inputs[0])),
                "b": float(metric.compute(inputs[1])),
                "difference": test.difference,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "p_value": test.p_value,
                "level": level,
                "higher_is_better": metric.higher_is_better,
            }
        )
    return rows
