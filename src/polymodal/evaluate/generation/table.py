"""The predictions table of a generation task: texts plus the per-sample statistics.

Columns: ``id``, ``hypothesis``, ``references`` (list of strings), ``perturbation``,
``severity``, and one ``stats_<family>`` column per statistics family the metrics need (a list
of numbers per row; ``stats_meteor`` holds METEOR's statistics line). :func:`inputs_from_table`
turns them back into :class:`~polymodal.evaluate.generation.corpus.GenerationInputs` without
re-tokenising.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from polymodal.errors import PolymodalError
from polymodal.evaluate.generation import bertscore, caption, overlap, sacre
from polymodal.evaluate.generation.corpus import GenerationInputs, generation_metric

CAPTION_TOKENIZERS = ("ptb", "none")


def families(names: Sequence[str]) -> list[str]:
    """The statistics families the metrics ``names`` read, in first-use order."""
    return list(dict.fromkeys(generation_metric(n).family for n in names))


def _caption_texts(hyps, refs, tokenize: str) -> tuple[list[str], list[list[str]]]:
    if tokenize not in CAPTION_TOKENIZERS:
        raise PolymodalError(
            f"unknown caption tokenizer {tokenize!r}", fix=f"use one of {CAPTION_TOKENIZERS}"
        )
    if tokenize == "none":
        return list(hyps), [list(r) for r in refs]
    flat = caption.ptb_tokenize([*hyps, *(r for rs in refs for r in rs)])
    tok_hyps, position, tok_refs = flat[: len(hyps)], len(hyps), []
    for rs in refs:
        tok_refs.append(flat[position : position + len(rs)])
        position += len(rs)
    return tok_hyps, tok_refs


def score_texts(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    names: Sequence[str],
    *,
    tokenize: str = "13a",
    caption_tokenize: str = "ptb",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-sample statistics of every family the metrics ``names`` need.

    Args:
        hypotheses, references: checked texts (see :mod:`polymodal.evaluate.generation.texts`).
        tokenize: sacrebleu tokenizer of BLEU (``13a``; ``zh`` for Chinese targets).
        caption_tokenize: tokenisation before CIDEr-D and METEOR (``ptb``: pycocoevalcap's).

    Returns:
        ``(stats, options)``: family -> array ``[N, K]`` (METEOR: list of N statistics lines),
        and what corpus scores need besides (METEOR's corpus score, the tokenizers).
    """
    stats: dict[str, Any] = {}
    options: dict[str, Any] = {"tokenize": tokenize, "caption_tokenize": caption_tokenize}
    wanted = families(names)
    builders = {
        "bleu": lambda h, r: sacre.bleu_statistics(h, r, tokenize=tokenize),
        "chrf": sacre.chrf_statistics,
        "ter": sacre.ter_statistics,
        "rouge": overlap.rouge_statistics,
        "answers": overlap.answer_statistics,
        "bertscore": bertscore.bertscore_statistics,
    }
    for family in wanted:
        if family in builders:
            stats[family] = builders[family](hypotheses, references)
    if "cider_d" in wanted or "meteor" in wanted:
        hyps, refs = _caption_texts(hypotheses, references, caption_tokenize)
        if "cider_d" in wanted:
            stats["cider_d"] = caption.cider_d_statistics(hyps, refs)[:, None]
        if "meteor" in wanted:
            lines, _, corpus = caption.meteor_statistics(hyps, refs)
            stats["meteor"], options["meteor_corpus"] = lines, corpus
    return stats, options


def add_statistics(table: pd.DataFrame, stats: dict[str, Any]) -> pd.DataFrame:
    """``table`` with one ``stats_<family>`` column per family (a list, or a string, per row)."""
    table = table.copy()
    for family, values in stats.items():
        if isinstance(values, np.ndarray):
            table[f"stats_{family}"] = [row.tolist() for row in values.reshape(len(table), -1)]
        else:
            table[f"stats_{family}"] = list(values)
    return table


def inputs_from_table(
    table: pd.DataFrame, options: dict[str, Any] | None = None
) -> GenerationInputs:
    """The metrics' inputs from a table's ``stats_<family>`` columns (no text is re-read)."""
    stats: dict[str, Any] = {}
    for column in table.columns:
        if column.startswith("stats_"):
            family = column.removeprefix("stats_")
            values = list(table[column])
            stats[family] = values if family == "meteor" else np.array([list(v) for v in values])
    return GenerationInputs(stats, len(table), dict(options or {}))


def signatures(
    names: Sequence[str], references: Sequence[Sequence[str]], tokenize: str
) -> dict[str, str]:
    """sacrebleu's signature of each sacrebleu metric in ``names``; the convention of the others."""
    out = {}
    nrefs = sacre.num_refs(references)
    for name in names:
        if name in ("bleu", "chrf", "ter"):
            out[name] = sacre.signature(name, nrefs, tokenize)
        else:
            out[name] = generation_metric(name).convention
    return out
