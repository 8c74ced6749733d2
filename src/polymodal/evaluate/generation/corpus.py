"""Generation metrics over a predictions table: per-sample statistics in, corpus scores out.

:func:`score_texts` computes, once, every per-sample statistic the named metrics need (BLEU
n-gram counts and lengths, chrF character n-gram counts, TER edits, sentence ROUGE, CIDEr-D and
answer scores, METEOR statistics lines) and returns them as table columns ``stats_<family>``.
A :class:`GenerationMetric` then computes the corpus score of any multiset of samples from
those columns alone: ``compute_resampled`` builds the ``[R, N]`` occurrence counts of R index
rows and multiplies them with the ``[N, K]`` statistics (one matrix product), then applies the
corpus formula to the R sums at once. So bootstrap intervals and paired tests
(:mod:`polymodal.evaluate.stats`) never re-tokenise. METEOR alone asks its Java process.

Metric names (``GENERATION_METRICS``): bleu, chrf, ter, rouge1, rouge2, rougeL, rougeLsum,
cider_d, meteor, exact_match, token_f1, bertscore_minilm (F1; ``_precision``,
``_recall``: not comparable with published BERTScore).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polymodal.errors import PolymodalError
from polymodal.evaluate.generation import bertscore, caption, overlap, sacre

CHUNK_ELEMENTS = 1 << 16
"""Entries of the ``[R, N]`` occurrence-count matrix built at once: small enough (0.5 MiB) that
``bincount`` writes stay in cache, which is several times faster than one big matrix."""

DEFAULT_METRICS = ("bleu", "chrf", "ter", "rougeL")
"""Metrics of ``polymodal evaluate --task generation`` when none are named (no Java needed)."""


@dataclass(frozen=True)
class GenerationInputs:
    """Per-sample statistics of N samples, by family (``bleu`` -> int ``[N, 10]``, ...)."""

    stats: dict[str, Any]
    size: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationMetric:
    """A corpus metric computed from sums of per-sample statistics.

    Attributes:
        name: metric name.
        family: statistics family it reads (a ``stats_<family>`` column).
        column: which columns of the family (a slice), or None for all.
        from_sums: ``(sums [R, K], sizes [R]) -> [R]`` corpus scores.
        higher_is_better: direction.
        convention: the library and settings this metric equals.
    """

    name: str
    family: str
    column: slice | None
    from_sums: Callable[[np.ndarray, np.ndarray], np.ndarray]
    higher_is_better: bool
    convention: str
    scalar: bool = True

    def _stats(self, inputs: GenerationInputs) -> np.ndarray:
        stats = np.asarray(inputs.stats[self.family], dtype=np.float64).reshape(inputs.size, -1)
        return stats if self.column is None else stats[:, self.column]

    def compute(self, inputs: GenerationInputs) -> float:
        """The corpus score of all N samples."""
        if self.family == "meteor":
            return float(inputs.options["meteor_corpus"])
        sums = self._stats(inputs).sum(axis=0, keepdims=True)
        return float(self.from_sums(sums, np.array([inputs.size]))[0])

    def compute_resampled(self, inputs: GenerationInputs, indices: np.ndarray) -> np.ndarray:
        """float ``[R]``: the corpus score of each row of sample positions ``indices [R, M]``."""
        indices = np.asarray(indices)
        if self.family == "meteor":
            return caption.meteor_resampled(inputs.stats["meteor"], indices)
        sums = resampled_sums(self._stats(inputs), indices)
        return self.from_sums(sums, np.full(len(indices), indices.shape[1]))

    def category_codes(self, inputs: GenerationInputs) -> tuple[np.ndarray, int]:
        """Samples with equal statistics form a category (the corpus score of any sample set
        depends only on how many of each it holds): ``(codes [N], K)``. METEOR: one category per
        sample (its score comes from Java, so resampling stays on index rows)."""
        if self.family == "meteor":
            return np.arange(inputs.size), inputs.size
        _, codes = np.unique(self._stats(inputs), axis=0, return_inverse=True)
        codes = codes.ravel()
        return codes, int(codes.max(initial=-1)) + 1

    def from_counts(self, counts: np.ndarray, inputs: GenerationInputs) -> np.ndarray:
        """float ``[R]``: the corpus score of sample sets given by counts ``[R, K]`` per category
        of :meth:`category_codes`."""
        rows = np.unique(self._stats(inputs), axis=0)
        counts = np.asarray(counts, dtype=np.float64)
        return self.from_sums(counts @ rows, counts.sum(axis=1))

    def statistics(self, inputs: GenerationInputs) -> np.ndarray:
        """float64 ``[N, K]``: the per-sample statistics this metric sums."""
        return self._stats(inputs)


def sum_dtype(stats: np.ndarray, rows_of: int) -> type:
    """float32 when every sum of ``rows_of`` rows of ``stats`` is an integer below 2^24 (float32
    integers are exact there, and its matrix product is twice as fast), else float64."""
    exact32 = (
        bool(np.all(stats == np.round(stats)))
        and float(np.abs(stats).max(initial=0.0)) * rows_of < 2**24
    )
    return np.float32 if exact32 else np.float64


def chunk_sums(chunk: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``[k, K]``: column sums of ``table [N, K]`` over each row of ``chunk [k, M]`` (positions
    < N): the rows' occurrence counts (one ``bincount``, the rows offset by N) times ``table``.
    ``chunk`` is overwritten (offsets added in place)."""
    n = len(table)
    chunk += (np.arange(len(chunk), dtype=chunk.dtype) * n)[:, None]
    counts = np.bincount(chunk.ravel(), minlength=len(chunk) * n)
    return counts.reshape(len(chunk), n).astype(table.dtype) @ table


def chunk_rows(n: int) -> int:
    """Index rows per chunk for N samples (:data:`CHUNK_ELEMENTS` entries)."""
    return max(1, CHUNK_ELEMENTS // max(n, 1))


def resampled_sums(stats: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """float64 ``[R, K]``: column sums of ``stats [N, K]`` over each row of ``indices [R, M]``.

    Occurrence counts of each row (one ``bincount`` per chunk of rows) times ``stats`` (one
    matrix product); exact (see :func:`sum_dtype`).
    """
    table = stats.astype(sum_dtype(stats, indices.shape[1]))
    rows = chunk_rows(len(stats))
    out = np.empty((len(indices), stats.shape[1]))
    wide = np.int64 if len(stats) * rows >= 2**31 else np.int32
    for start in range(0, len(indices), rows):
        chunk = indices[start : start + rows].astype(wide)
        out[start : start + len(chunk)] = chunk_sums(chunk, table)
    return out


def _mean(scale: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda sums, sizes: scale * sums[:, 0] / sizes


def _only(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda sums, sizes: fn(sums)


BERTSCORE_METRICS = {
    "bertscore_minilm_precision": "precision",
    "bertscore_minilm_recall": "recall",
    "bertscore_minilm": "F1",
}
"""BERTScore on the packaged MiniLM, by name (columns P, R, F1 of the ``bertscore`` family);
the name says MiniLM because the numbers are not comparable with published BERTScore."""
_ROUGE = "rouge-score 0.1.2, stemmer on, F-measure, best reference, mean over samples (0-1)"
_SPECS: tuple[tuple[str, str, slice | None, Callable, bool, str], ...] = (
    ("bleu", "bleu", None, _only(sacre.bleu_from_sums), True,
     "sacrebleu 2.6 corpus BLEU (0-100), exp smoothing"),
    ("chrf", "chrf", None, _only(sacre.chrf_from_sums), True,
     "sacrebleu 2.6 corpus chrF (0-100), char order 6, beta 2"),
    ("ter", "ter", None, _only(sacre.ter_from_sums), False,
     "sacrebleu 2.6 corpus TER (0-100, lower is better), tercom tokenizer, lowercased"),
    *((t, "rouge", slice(i, i + 1), _mean(1.0), True, _ROUGE)
      for i, t in enumerate(overlap.ROUGE_TYPES)),
    ("cider_d", "cider_d", None, _mean(1.0), True,
     "pycocoevalcap 1.2 CIDEr-D (sigma 6, 0-10 scale), idf from this set's references"),
    ("meteor", "meteor", None, _mean(1.0), True,
     "pycocoevalcap 1.2 METEOR 1.5 (-l en -norm, Java), corpus score from the jar"),
    ("exact_match", "answers", slice(0, 1), _mean(100.0), True,
     "SQuAD v2.0 exact match (0-100), squad normalisation, best reference"),
    ("token_f1", "answers", slice(1, 2), _mean(100.0), True,
     "SQuAD v2.0 token F1 (0-100), squad normalisation, best reference"),
    *((name, "bertscore", slice(i, i + 1), _mean(1.0), True, f"{part}: {bertscore.CONVENTION}")
      for i, (name, part) in enumerate(BERTSCORE_METRICS.items())),
)  # fmt: skip

GENERATION_METRICS: dict[str, GenerationMetric] = {
    spec[0]: GenerationMetric(*spec) for spec in _SPECS
}
"""The generation metrics by name (a registry: adding one is one entry of ``_SPECS``)."""


def generation_metric(name: str) -> GenerationMetric:
    """The metric registered as ``name``."""
    if name not in GENERATION_METRICS:
        raise PolymodalError(
            f"unknown generation metric {name!r}",
            fix=f"use one of {', '.join(GENERATION_METRICS)}",
        )
    return GENERATION_METRICS[name]


def chosen_generation_metrics(names: str | None, options: Sequence[str] = ()) -> list[str] | None:
    """Metric names of ``--metrics a,b`` for ``--task generation``, checked against this
    registry (not the classification one) before any work; None when none is named."""
    if options:
        raise PolymodalError(
            "the generation metrics take no --metric-option",
            fix="leave --metric-option out with --task generation",
        )
    if not names:
        return None
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    for name in chosen:
        generation_metric(name)  # an unknown name fails here, listing the generation metrics
    return chosen
