"""BLEU, chrF and TER as sacrebleu 2.6 computes them, from per-sentence statistics.

Each metric has two halves. ``*_statistics`` turns every (hypothesis, references) pair into the
sentence's sufficient statistics, with sacrebleu's own tokenizers (13a, zh, tercom: the
tokenizer *is* the convention) and, for TER, its Tercom edit distance. ``*_from_sums`` computes
the corpus score of R sample sets at once from the column sums of those statistics, vectorised
in numpy; it is what bootstrap intervals and paired tests call, never the library.

Statistics (one row per sentence, in sacrebleu's order):

- BLEU, 10 columns: hypothesis length, closest reference length (ties: the shorter), correct
  and total n-grams for n = 1..4 (correct counts clipped by the maximum count over the
  references). Corpus score: ``bp * exp(mean(log p_n))`` with ``exp`` smoothing (an order with
  no match gets ``100 / (2^k total_n)``, k counting such orders), 0 when nothing matches or an
  order has no n-gram.
- chrF, 18 columns: hypothesis, reference and matched character n-grams for n = 1..6
  (whitespace removed), of the reference with the best sentence chrF (the first on ties).
  Corpus score: F-beta (beta = 2) of precision and recall averaged over the orders where both
  counts are positive.
- TER, 2 columns: the fewest edits (shifts included) over the references, and the mean
  reference length. Corpus score: ``100 * edits / length``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from polymodal.errors import PolymodalError
from polymodal.evaluate.generation import bleu_counts
from polymodal.evaluate.generation._deps import require

BLEU_ORDER = 4
CHRF_ORDER = 6
CHRF_BETA = 2.0
TOKENIZERS = ("13a", "zh", "none", "intl", "char")
"""sacrebleu tokenizers accepted for BLEU (13a: the default; zh: for Chinese targets)."""


def _metric(kind: str, **kwargs):
    metrics = require("sacrebleu.metrics")
    return {"bleu": metrics.BLEU, "chrf": metrics.CHRF, "ter": metrics.TER}[kind](**kwargs)


def signature(kind: str, num_refs: int, tokenize: str = "13a") -> str:
    """sacrebleu's signature of ``kind`` (bleu, chrf, ter) for a corpus with ``num_refs``
    references per sentence (-1: a variable number), e.g.
    ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``."""
    metric = _metric(kind, tokenize=tokenize) if kind == "bleu" else _metric(kind)
    metric.num_refs = num_refs
    return metric.get_signature().format()


def num_refs(references: Sequence[Sequence[str]]) -> int:
    """The number of references per sentence, or -1 when it varies (sacrebleu's ``var``)."""
    counts = {len(r) for r in references}
    return counts.pop() if len(counts) == 1 else -1


# --------------------------------------------------------------------------------------------
# BLEU


def bleu_statistics(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], tokenize: str = "13a"
) -> np.ndarray:
    """int64 ``[N, 10]`` BLEU statistics (see the module docstring) with tokenizer ``tokenize``,
    counted for the whole corpus at once (:mod:`~polymodal.evaluate.generation.bleu_counts`)."""
    if tokenize not in TOKENIZERS:
        raise PolymodalError(
            f"unknown BLEU tokenizer {tokenize!r}", fix=f"use one of {', '.join(TOKENIZERS)}"
        )
    tokenizer: Callable[[str], str] | None = None
    if tokenize != "13a":
        tokenizer = _metric("bleu", tokenize=tokenize).tokenizer
    else:
        require("sacrebleu")
    if not len(hypotheses):
        return np.zeros((0, 2 + 2 * BLEU_ORDER), dtype=np.int64)
    hyps, refs = bleu_counts.tokenized(hypotheses, references, tokenizer)
    return bleu_counts.bleu_statistics_from_tokens(hyps, refs)


def bleu_from_sums(sums: np.ndarray) -> np.ndarray:
    """float ``[R]`` corpus BLEU (0-100) of R sets from their statistic sums ``[R, 10]``."""
    sums = np.asarray(sums, dtype=np.float64).reshape(-1, 2 + 2 * BLEU_ORDER)
    sys_len, ref_len = sums[:, 0], sums[:, 1]
    correct, total = sums[:, 2 : 2 + BLEU_ORDER], sums[:, 2 + BLEU_ORDER :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.exp(1.0 - ref_len / np.where(sys_len > 0, sys_len, 1.0))
        bp = np.where(sys_len < ref_len, np.where(sys_len > 0, ratio, 0.0), 1.0)
        zero = correct == 0
        halvings = np.cumsum(zero, axis=1)  # sacrebleu's smooth_mteval doubles per empty order
        safe_total = np.where(total > 0, total, 1.0)
        precision = np.where(
            zero, 100.0 / (2.0**halvings * safe_total), 100.0 * correct / safe_total
        )
        logs = np.log(precision)
    log_sum = logs[:, 0]
    for n in range(1, BLEU_ORDER):  # left to right, as sacrebleu sums them
        log_sum = log_sum + logs[:, n]
    score = bp * np.exp(log_sum / BLEU_ORDER)
    dead = (correct.sum(axis=1) == 0) | (total == 0).any(axis=1)
    return np.where(dead, 0.0, score)


# --------------------------------------------------------------------------------------------
# chrF


def _char_ngrams(text: str) -> list[Counter]:
    line = "".join(text.split())
    return [
        Counter(line[i : i + n] for i in range(len(line) - n + 1)) for n in range(1, CHRF_ORDER + 1)
    ]


def _match(hyp: list[Counter], ref: list[Counter]) -> list[int]:
    stats = []
    for h, r in zip(hyp, ref, strict=True):
        matched = sum(min(c, r[g]) for g, c in h.items() if g in r)
        stats += [sum(h.values()) if r else 0, sum(r.values()), matched]
    return stats


def chrf_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
    """int64 ``[N, 18]`` chrF statistics of each sentence's best reference."""
    out = np.zeros((len(hypotheses), 3 * CHRF_ORDER), dtype=np.int64)
    for i, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
        hyp_grams = _char_ngrams(hyp)
        candidates = np.array([_match(hyp_grams, _char_ngrams(r)) for r in refs])
        scores = chrf_from_sums(candidates)
        out[i] = candidates[int(np.argmax(scores))]  # first of the best, as sacrebleu's ">"
    return out


def chrf_from_sums(sums: np.ndarray) -> np.ndarray:
    """float ``[R]`` corpus chrF (0-100) of R sets from their statistic sums ``[R, 18]``."""
    sums = np.asarray(sums, dtype=np.float64).reshape(-1, 3 * CHRF_ORDER)
    factor = CHRF_BETA**2
    avg_prec = np.zeros(len(sums))
    avg_rec = np.zeros(len(sums))
    effective = np.zeros(len(sums))
    for n in range(CHRF_ORDER):
        n_hyp, n_ref, n_match = sums[:, 3 * n], sums[:, 3 * n + 1], sums[:, 3 * n + 2]
        both = (n_hyp > 0) & (n_ref > 0)
        avg_prec += np.where(both, n_match / np.where(both, n_hyp, 1.0), 0.0)
        avg_rec += np.where(both, n_match / np.where(both, n_ref, 1.0), 0.0)
        effective += both
    some = effective > 0
    avg_prec = np.where(some, avg_prec / np.where(some, effective, 1.0), 0.0)
    avg_rec = np.where(some, avg_rec / np.where(some, effective, 1.0), 0.0)
    positive = (avg_prec + avg_rec) > 0
    numerator = (1 + factor) * avg_prec * avg_rec
    denominator = np.where(positive, factor * avg_prec + avg_rec, 1.0)
    return np.where(positive, 100 * (numerator / denominator), 0.0)


# --------------------------------------------------------------------------------------------
# TER


def ter_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
    """float64 ``[N, 2]``: fewest edits over the references, mean reference length (Tercom
    tokenisation, case-insensitive, as sacrebleu's default TER)."""
    lib_ter = require("sacrebleu.metrics.lib_ter")
    tokenizer = _metric("ter").tokenizer
    out = np.zeros((len(hypotheses), 2))
    for i, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
        words = tokenizer(hyp.rstrip()).split()
        results = [
            lib_ter.translation_edit_rate(words, tokenizer(r.rstrip()).split()) for r in refs
        ]
        out[i, 0] = min(edits for edits, _ in results)
        out[i, 1] = sum(length for _, length in results) / len(refs)
    return out


def ter_from_sums(sums: np.ndarray) -> np.ndarray:
    """float ``[R]`` corpus TER (0-100+, lower is better) from statistic sums ``[R, 2]``."""
    sums = np.asarray(sums, dtype=np.float64).reshape(-1, 2)
    edits, length = sums[:, 0], sums[:, 1]
    rate = np.where(length > 0, edits / np.where(length > 0, length, 1.0), (edits > 0) * 1.0)
    return 100 * rate
