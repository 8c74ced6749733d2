"""Benchmark: CIDEr-D over 10,000 captions, polymodal's sparse-matrix version against
pycocoevalcap's ``Cider``, in one run.

Flickr8k-1k (``../shared/data/flickr8k-1k``, 1,000 photos x 5 captions): every caption is a
hypothesis once against the other four captions of its photo (5,000 samples) and once against
the four captions of the next photo (another 5,000): 10,000 hypotheses, 40,000 references.
Texts are PTB-tokenised once (pycocoevalcap's tokenizer, Java; timed apart, shared by both).
Both sides compute the same per-sample CIDEr-D (idf from all 10,000 reference sets); the script
checks they agree to 1e-9 and prints the time ratio (best of ``--repeats``).

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/generation_cider.py
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from pycocoevalcap.cider.cider import Cider

from polymodal.evaluate.generation.caption import cider_d_statistics, ptb_tokenize

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flickr8k-1k"


def samples() -> tuple[list[str], list[list[str]]]:
    """10,000 (hypothesis, 4 references) pairs from Flickr8k-1k, untokenised."""
    captions: dict[str, list[str]] = defaultdict(list)
    with (DATA / "captions.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions[row["image"]].append(row["caption"])
    photos = sorted(captions)
    hyps, refs = [], []
    for shift in (0, 1):
        for p, photo in enumerate(photos):
            other = captions[photos[(p + shift) % len(photos)]]
            for k, caption in enumerate(captions[photo]):
                hyps.append(caption)
                refs.append([c for j, c in enumerate(other) if j != k])
    return hyps, refs


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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    hyps, refs = samples()
    start = time.perf_counter()
    flat = ptb_tokenize([*hyps, *(r for rs in refs for r in rs)])
    tokenising = time.perf_counter() - start
    tok_hyps, tok_refs, position = flat[: len(hyps)], [], len(hyps)
    for rs in refs:
        tok_refs.append(flat[position : position + len(rs)])
        position += len(rs)
    gts = {i: r for i, r in enumerate(tok_refs)}
    res = {i: [h] for i, h in enumerate(tok_hyps)}
    t_theirs, (score, theirs) = best_time(lambda: Cider().compute_score(gts, res), args.repeats)
    t_ours, ours = best_time(lambda: cider_d_statistics(tok_hyps, tok_refs), args.repeats)
    gap = float(np.max(np.abs(np.asarray(ours) - np.asarray(theirs))))
    print(f"{len(hyps)} hypotheses, {sum(map(len, refs))} references; PTB tokenisation "
          f"(once, shared) {tokenising:.2f} s")  # fmt: skip
    print(f"CIDEr-D {float(np.mean(ours)):.6f} (pycocoevalcap {score:.6f}); "
          f"max |per-sample difference| {gap:.1e}")  # fmt: skip
    print(f"pycocoevalcap {t_theirs:.3f} s, polymodal {t_ours:.3f} s "
          f"-> {t_theirs / t_ours:.1f}x")  # fmt: skip
    return 0 if gap <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
