"""Retrieval metrics at 10^5 queries x 10^5 gallery: time and peak memory, checked exactly.

The chunked computation of :func:`polymodal.evaluate.metrics.retrieval.rank_queries` runs in a
child process, which reports its wall time and its peak resident memory (``ru_maxrss``) before
and after ranking. The parent then recomputes a subsample of queries by brute force (the full
similarity row of each, a stable sort, the definitions of first rank and AP@R) and checks that
the per-query results are equal. The full similarity matrix, never materialised, would take
``Q * G * 4`` bytes (40 GB at 10^5 x 10^5 in float32).

Run::

    .venv/bin/python benchmarks/retrieval_memory.py                 # 10^5 x 10^5, D = 64
    .venv/bin/python benchmarks/retrieval_memory.py --queries 20000 --gallery 20000
    .venv/bin/python benchmarks/retrieval_memory.py --relevance labels --classes 1000

Exits with status 1 when the check fails or the peak memory exceeds ``--max-peak-mb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from polymodal.evaluate.metrics.retrieval import Positives, rank_queries, summarize


def make_data(args: argparse.Namespace) -> dict:
    """Random gallery; each query is the mean of its positives plus noise (1..max positives,
    or the items of its class with ``--relevance labels``), float32, from ``--seed``."""
    rng = np.random.default_rng(args.seed)
    gallery = rng.standard_normal((args.gallery, args.dim), dtype=np.float32)
    if args.relevance == "labels":
        gallery_labels = rng.integers(0, args.classes, args.gallery)
        query_labels = rng.choice(np.unique(gallery_labels), args.queries)
        sums = np.zeros((args.classes, args.dim), dtype=np.float32)
        np.add.at(sums, gallery_labels, gallery)
        sizes = np.maximum(np.bincount(gallery_labels, minlength=args.classes), 1)
        centres = sums / sizes[:, None].astype(np.float32)
        noise = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
        query = centres[query_labels] + args.noise * noise
        return {
            "query": query,
            "gallery": gallery,
            "query_labels": query_labels,
            "gallery_labels": gallery_labels,
        }
    counts = rng.integers(1, args.max_positives + 1, args.queries)
    owners = np.repeat(np.arange(args.queries), counts)
    items = rng.integers(0, args.gallery, len(owners))
    positives = Positives.from_pairs(owners, items, args.queries)
    sums = np.zeros((args.queries, args.dim), dtype=np.float32)
    np.add.at(
        sums, np.repeat(np.arange(args.queries), positives.counts), gallery[positives.indices]
    )
    query = sums / positives.counts[:, None] + args.noise * rng.standard_normal(
        (args.queries, args.dim), dtype=np.float32
    )
    return {"query": query, "gallery": gallery, "positives": positives}


def relevance_kwargs(data: dict) -> dict:
    if "positives" in data:
        return {"positives": data["positives"]}
    return {"query_labels": data["query_labels"], "gallery_labels": data["gallery_labels"]}


def peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """Build the data, rank every query, save per-query results, print a JSON line."""
    data = make_data(args)
    before = peak_mb()
    start = time.perf_counter()
    ranks = rank_queries(data["query"], data["gallery"], **relevance_kwargs(data))
    seconds = time.perf_counter() - start
    after = peak_mb()
    np.savez(args.out, first_rank=ranks.first_rank, ap_at_r=ranks.ap_at_r)
    report = {"seconds": seconds, "peak_before_mb": before, "peak_after_mb": after}
    print(json.dumps({**report, "metrics": summarize(ranks)}))


def brute_force(data: dict, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First rank and AP@R of queries ``rows``, each from its full sorted similarity row."""
    query = data["query"][rows]
    query = query / np.linalg.norm(query, axis=1, keepdims=True)
    gallery = data["gallery"] / np.linalg.norm(data["gallery"], axis=1, keepdims=True)
    first, ap = [], []
    for i, row in zip(rows, query @ gallery.T, strict=True):
        if "positives" in data:
            p = data["positives"]
            relevant = p.indices[p.indptr[i] : p.indptr[i + 1]]
        else:
            relevant = np.flatnonzero(data["gallery_labels"] == data["query_labels"][i])
        order = np.lexsort((np.arange(len(row)), -row))  # descending score, then index
        hits = np.isin(order, relevant)
        first.append(int(np.argmax(hits)) + 1)
        n = len(relevant)
        top = hits[:n]
        precision = np.cumsum(top) / np.arange(1, n + 1)
        ap.append(float((precision * top).sum() / n))
    return np.array(first), np.array(ap)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--gallery", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--relevance", choices=["positives", "labels"], default="positives")
    parser.add_argument("--max-positives", type=int, default=5)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--check", type=int, default=300, help="queries checked by brute force")
    parser.add_argument("--max-peak-mb", type=float, default=1024.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranks.npz"
        command = [sys.executable, __file__, "--child", "--out", str(out), *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        report = json.loads(done.stdout.strip().splitlines()[-1])
        saved = np.load(out)
        first_rank, ap_at_r = saved["first_rank"], saved["ap_at_r"]

    data = make_data(args)
    rows = np.random.default_rng(args.seed + 1).choice(args.queries, args.check, replace=False)
    start = time.perf_counter()
    first, ap = brute_force(data, rows)
    brute_seconds = time.perf_counter() - start
    rank_ok = np.array_equal(first, first_rank[rows])
    ap_ok = np.allclose(ap, ap_at_r[rows], rtol=0, atol=1e-12)
    full_gb = args.queries * args.gallery * 4 / 1e9

    print(f"retrieval {args.queries} queries x {args.gallery} gallery, D={args.dim}, "
          f"relevance={args.relevance}")  # fmt: skip
    print(f"  chunked ranking:   {report['seconds']:.1f} s")
    print(
        f"  peak RSS:          {report['peak_after_mb']:.0f} MB "
        f"(after building the data: {report['peak_before_mb']:.0f} MB, so ranking added "
        f"{report['peak_after_mb'] - report['peak_before_mb']:.0f} MB; "
        f"a full float32 similarity matrix would be {full_gb:.1f} GB)"
    )
    print("  metrics:           " + ", ".join(f"{k}={v:.4f}" for k, v in report["metrics"].items()))
    print(
        f"  brute force check: {args.check} queries in {brute_seconds:.1f} s, first ranks "
        f"{'equal' if rank_ok else 'DIFFER'}, AP@R {'equal' if ap_ok else 'DIFFER'}"
    )
    memory_ok = report["peak_after_mb"] <= args.max_peak_mb
    print(f"  peak memory target <= {args.max_peak_mb:.0f} MB: {'ok' if memory_ok else 'EXCEEDED'}")
    return 0 if rank_ok and ap_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
