"""Benchmark: corpus-BLEU bootstrap from per-sentence statistics against sacrebleu's own.

10,000 Tatoeba English sentences (``../shared/data/tatoeba-cmn-eng``) as references, and two
systems made from them by dropping words at 20 % and 35 % (seeded), as a degraded draft would.
In one run, with sacrebleu's resamples (``default_rng(12345).choice(N, (R, N))``, R = 1,000):

- paired bootstrap test of system B against baseline A: sacrebleu's ``_paired_bs_test`` (what
  ``sacrebleu --paired-bs`` runs; it extracts B's statistics, then scores each resample in a
  Python loop) against :func:`polymodal.evaluate.generation.sacrebleu_paired` on the statistics
  the predictions table already holds (one occurrence-count matrix product per chunk);
- the single-system interval: ``BLEU().corpus_score(..., n_bootstrap=1000)`` against
  :func:`~polymodal.evaluate.generation.sacrebleu_interval` (same resamples) and against the
  harness's :func:`~polymodal.evaluate.stats.bootstrap_ci` (what ``polymodal evaluate`` runs),
  which draws multinomial counts of the sentences' distinct statistic rows: the same bootstrap
  distribution from other draws, so its bounds agree within Monte-Carlo error only.

polymodal's statistics are vectorised (13a tokenisation in one pass per rule over the whole
corpus, n-grams counted with ``np.unique``: :mod:`polymodal.evaluate.generation.bleu_counts`),
and the resamples are drawn a chunk of rows at a time from sacrebleu's generator, each chunk
counted (``bincount``) and multiplied with the statistics while in cache
(:func:`polymodal.evaluate.generation.significance.sacrebleu_sums`).

Both sides use the same index rows, so the resampled scores must agree; sacrebleu sums float32
statistics and its arithmetic then runs in float32, so they agree to float32 rounding (checked:
max |difference| < 1e-3 BLEU points), and the p-values are equal. Target: >= 20x faster (the
script exits 1 only when the results differ; it says whether the target is met). With sacrebleu's
own resamples the floor is drawing them: 10 million bounded integers from numpy's generator
(about 0.05-0.08 s here), which is most of polymodal's time; the count draws of the harness
avoid it.
Times are the best of ``--repeats``; the statistics extraction (once per system, shared by any
number of tests) is timed and printed separately.

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/generation_bleu_bootstrap.py
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU
from sacrebleu.significance import _bootstrap_resample, _paired_bs_test

from polymodal.evaluate.generation import (
    GenerationInputs,
    generation_metric,
    sacrebleu_indices,
    sacrebleu_interval,
    sacrebleu_paired,
)
from polymodal.evaluate.generation.sacre import bleu_statistics
from polymodal.evaluate.stats import bootstrap_ci

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tatoeba-cmn-eng"
TARGET_RATIO = 20.0
TOLERANCE = 1e-3


def sentences(n: int) -> list[str]:
    """``n`` English sentences of Tatoeba (cycled if the file has fewer)."""
    lines = (DATA / "cmn-eng.tsv").read_text(encoding="utf-8").splitlines()
    english = [line.split("\t")[0] for line in lines]
    return [english[i % len(english)] for i in range(n)]


def drop_words(texts: list[str], rate: float, seed: int) -> list[str]:
    """Each word kept with probability ``1 - rate``."""
    rng = random.Random(seed)
    return [" ".join(w for w in t.split() if rng.random() >= rate) for t in texts]


def best_time(fn, repeats: int) -> tuple[float, object]:
    """Smallest wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    refs = sentences(args.sentences)
    sys_a, sys_b = drop_words(refs, 0.20, 1), drop_words(refs, 0.35, 2)
    stats_a = bleu_statistics(sys_a, [[r] for r in refs])
    extraction, stats_b = best_time(
        lambda: bleu_statistics(sys_b, [[r] for r in refs]), args.repeats
    )
    inputs_a = GenerationInputs({"bleu": stats_a}, len(refs))
    inputs_b = GenerationInputs({"bleu": stats_b}, len(refs))
    bleu = generation_metric("bleu")

    lib = BLEU()
    lib_stats_a = lib._extract_corpus_statistics(sys_a, [refs])
    info = {"BLEU": (lib_stats_a, lib._aggregate_and_compute(lib_stats_a))}

    def theirs_paired():
        return _paired_bs_test(
            info, "B", sys_b, [refs], {"BLEU": BLEU()}, n_samples=args.resamples, seed=12345
        )[1]["BLEU"]

    def ours_paired():
        return sacrebleu_paired(bleu, inputs_a, inputs_b, resamples=args.resamples)

    t_theirs, theirs = best_time(theirs_paired, args.repeats)
    t_ours, ours = best_time(ours_paired, args.repeats)
    t_their_extraction, _ = best_time(
        lambda: BLEU()._extract_corpus_statistics(sys_b, [refs]), args.repeats
    )
    t_ci_theirs, _ = best_time(
        lambda: BLEU().corpus_score(sys_b, [refs], n_bootstrap=args.resamples), args.repeats
    )
    t_ci_ours, ci = best_time(
        lambda: sacrebleu_interval(bleu, inputs_b, resamples=args.resamples), args.repeats
    )
    t_counts, counts_ci = best_time(
        lambda: bootstrap_ci(bleu, inputs_b, len(refs), resamples=args.resamples), args.repeats
    )
    _, lib_scores = _bootstrap_resample(
        BLEU()._extract_corpus_statistics(sys_b, [refs]), BLEU(), args.resamples
    )
    ours_scores = bleu.compute_resampled(inputs_b, sacrebleu_indices(len(refs), args.resamples))
    gap = float(np.max(np.abs(ours_scores - np.array([s.score for s in lib_scores]))))
    same = gap < TOLERANCE and ours.p_value == theirs.p_value
    print(f"{len(refs)} sentences, {args.resamples} resamples (sacrebleu's seed 12345)")
    print(f"B: BLEU {ours.system:.4f} (sacrebleu {theirs.score:.4f}), "
          f"mean {ours.system_interval.mean:.4f} +- {ours.system_interval.half_width:.4f} "
          f"(sacrebleu {theirs.mean:.4f} +- {theirs.ci:.4f}), p {ours.p_value:.4f} "
          f"(sacrebleu {theirs.p_value:.4f})")  # fmt: skip
    print(f"interval of B: {ci.mean:.4f} +- {ci.half_width:.4f}; max |resampled score "
          f"difference| {gap:.2e} (float32 in sacrebleu)")  # fmt: skip
    print(f"statistics extraction of B (once per system): sacrebleu {t_their_extraction:.3f} s, "
          f"polymodal {extraction:.3f} s -> {t_their_extraction / extraction:.1f}x")  # fmt: skip
    ratio_paired, ratio_ci = t_theirs / t_ours, t_ci_theirs / t_ci_ours
    print(f"paired bootstrap: sacrebleu {t_theirs:.3f} s, polymodal {t_ours:.4f} s "
          f"-> {ratio_paired:.1f}x (B's statistics in the predictions table)")  # fmt: skip
    print(f"paired bootstrap from B's texts (our extraction of B + test): "
          f"{t_ours + extraction:.3f} s -> {t_theirs / (t_ours + extraction):.1f}x")  # fmt: skip
    resampling_only = t_theirs - t_their_extraction
    print(
        f"paired, resampling only (sacrebleu's call minus its {t_their_extraction:.3f} s "
        f"extraction of B): {resampling_only:.3f} s -> {resampling_only / t_ours:.1f}x"
    )
    print(f"interval:         sacrebleu {t_ci_theirs:.3f} s, polymodal {t_ci_ours:.4f} s "
          f"-> {ratio_ci:.1f}x")  # fmt: skip
    print(f"interval, counts: polymodal {t_counts:.4f} s -> {t_ci_theirs / t_counts:.1f}x "
          f"([{counts_ci.low:.4f}, {counts_ci.high:.4f}], {counts_ci.resampling}; sacrebleu's "
          f"2.5/97.5% order statistics [{ci.low:.4f}, {ci.high:.4f}])")  # fmt: skip
    met = "met" if ratio_paired >= TARGET_RATIO else "NOT met"
    print(f"same results: {same}; target {TARGET_RATIO:.0f}x on the paired test: {met}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
