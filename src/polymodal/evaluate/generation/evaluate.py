"""Evaluate generated texts: metrics with intervals, predictions table and report.

``polymodal evaluate FILE --task generation --out DIR`` reads a JSONL or Parquet file with
``id``, ``hypothesis`` and ``references`` (:mod:`polymodal.evaluate.generation.texts`), computes
every per-sample statistic once (:mod:`polymodal.evaluate.generation.table`), and writes, as for
the other tasks: ``predictions.parquet`` (texts + statistics), ``metrics.json`` (corpus scores,
percentile bootstrap intervals over sentences, sacrebleu signatures and conventions) and
``report.md``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.evaluate.generation.corpus import DEFAULT_METRICS, generation_metric
from polymodal.evaluate.generation.table import (
    add_statistics,
    inputs_from_table,
    score_texts,
    signatures,
)
from polymodal.evaluate.generation.texts import read_generation_file
from polymodal.evaluate.stats import bootstrap_ci

EXAMPLES = 5
"""Samples shown in the report (the first rows of the table)."""


def guess_tokenizer(references: Sequence[Sequence[str]]) -> str:
    """``zh`` when most reference characters are CJK ideographs, else ``13a`` (the choice is
    recorded in the BLEU signature)."""
    letters = [ch for refs in references for r in refs for ch in r if not ch.isspace()]
    cjk = sum(1 for ch in letters if "CJK" in unicodedata.name(ch, ""))
    return "zh" if letters and cjk * 2 > len(letters) else "13a"


def generation_intervals(
    table: pd.DataFrame, names: Sequence[str], options: dict[str, Any], resamples: int,
    level: float, seed: int,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Percentile bootstrap interval of every metric, resampling sentences (statistics reused)."""
    if resamples <= 0 or len(table) < 2:
        return {}
    inputs = inputs_from_table(table, options)
    out = {}
    for name in names:
        ci = bootstrap_ci(
            generation_metric(name), inputs, len(table), resamples=resamples, level=level, seed=seed
        )
        out[name] = {
            "low": float(ci.low), "high": float(ci.high), "level": ci.level, "method": ci.method,
            "resamples": ci.resamples, "resampling": f"sentences ({ci.resampling})",
        }  # fmt: skip
    return out


def evaluate_generation(
    path: str | Path,
    out_dir: str | Path,
    *,
    metrics: Sequence[str] | None = None,
    tokenize: str | None = None,
    caption_tokenize: str = "ptb",
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics, intervals, table and report of generated texts in ``path``, into ``out_dir``.

    Args:
        path: JSONL or Parquet file with id, hypothesis, references.
        metrics: metric names (default :data:`DEFAULT_METRICS`).
        tokenize: BLEU tokenizer (None: ``zh`` for Chinese references, else ``13a``).
        caption_tokenize: tokenisation before CIDEr-D and METEOR.
        resamples, level, seed: the bootstrap of the intervals (0 resamples: none).

    Returns:
        the ``metrics.json`` payload.
    """
    table = read_generation_file(path)
    header = {"run": Path(path).stem, "dataset": str(path), "split": "given"}
    return score_generation_table(
        table, Path(out_dir), header, metrics=metrics, tokenize=tokenize,
        caption_tokenize=caption_tokenize, resamples=resamples, level=level, seed=seed,
    )  # fmt: skip


def score_generation_table(
    table: pd.DataFrame,
    out_dir: Path,
    header: dict[str, Any],
    *,
    metrics: Sequence[str] | None = None,
    tokenize: str | None = None,
    caption_tokenize: str = "ptb",
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Statistics, metrics, intervals, table and report of a checked table (``id``,
    ``hypothesis``, ``references``, ...) into ``out_dir``; ``header`` starts the payload
    (``run``, ``dataset``, ``split``, ...). Returns the ``metrics.json`` payload."""
    from polymodal.evaluate.generation.report import write_generation_outputs

    names = list(metrics or DEFAULT_METRICS)
    hyps, refs = list(table["hypothesis"]), list(table["references"])
    tokenize = tokenize or guess_tokenizer(refs)
    stats, options = score_texts(
        hyps, refs, names, tokenize=tokenize, caption_tokenize=caption_tokenize
    )
    table = add_statistics(table, stats)
    inputs = inputs_from_table(table, options)
    values = {name: generation_metric(name).compute(inputs) for name in names}
    payload: dict[str, Any] = {
        **header,
        "task": "generation",
        "num_samples": len(table),
        "primary_metric": names[0],
        "higher_is_better": generation_metric(names[0]).higher_is_better,
        "metrics": values,
        "intervals": generation_intervals(table, names, options, resamples, level, seed),
        "signatures": signatures(names, refs, tokenize),
        "plots": {},
        "examples": [
            {"id": r.id, "hypothesis": r.hypothesis, "references": list(r.references)}
            for r in table.head(EXAMPLES).itertuples()
        ],
    }
    if "meteor_corpus" in options:
        payload["meteor_corpus"] = options["meteor_corpus"]
    write_generation_outputs(table, payload, out_dir)
    return payload
