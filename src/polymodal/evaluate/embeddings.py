"""Evaluate retrieval from embeddings made elsewhere (``polymodal evaluate EMB.npz --task
retrieval``), both directions, with the metrics and intervals of polymodal's own retrieval.

The ``.npz`` file holds ``query`` ``[Q, D]`` and ``gallery`` ``[G, D]`` embeddings and the
relevance, either ``positives`` int ``[P, 2]`` (query position, gallery position) pairs or
``query_labels`` ``[Q]`` and ``gallery_labels`` ``[G]`` (same label = relevant); optional
``query_ids`` / ``gallery_ids``. Both directions are scored: query -> gallery and gallery ->
query (with the transposed relevance).

Items that cannot be ranked are excluded and counted, never an error that loses both
directions: an all-zero embedding (no cosine similarity) leaves its side, and in each
direction a query without a relevant item (e.g. a gallery item no query points to, in the
gallery -> query direction) is left out of that direction's queries. The counts are in
``metrics.json`` (``excluded``) and the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.errors import DataError
from polymodal.evaluate.metrics.retrieval import Positives, per_query_values, rank_queries
from polymodal.evaluate.stats import bootstrap_ci

KS = (1, 5, 10)


def read_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an embeddings ``.npz`` (see the module docstring), checked."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path")
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    missing = [n for n in ("query", "gallery") if n not in arrays]
    has_pairs = "positives" in arrays
    has_labels = "query_labels" in arrays and "gallery_labels" in arrays
    if missing or has_pairs == has_labels:
        raise DataError(
            f"needs query, gallery and one relevance; found {sorted(arrays)}",
            where=str(path),
            fix="save query=[Q, D], gallery=[G, D] and positives=[P, 2] pairs (or "
            "query_labels=[Q], gallery_labels=[G]) with np.savez",
        )
    if has_pairs and (arrays["positives"].ndim != 2 or arrays["positives"].shape[1] != 2):
        raise DataError(
            f"positives must be [P, 2] pairs, got {arrays['positives'].shape}", where=str(path)
        )
    return arrays


def _pairs(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Relevant (query, gallery) pairs, int64 ``[P, 2]``."""
    if "positives" in arrays:
        return arrays["positives"].astype(np.int64)
    q_labels, g_labels = arrays["query_labels"], arrays["gallery_labels"]
    q, g = np.nonzero(q_labels[:, None] == g_labels[None, :])  # [Q, G] -> pairs
    return np.stack([q, g], axis=1).astype(np.int64)


def _direction(
    query: np.ndarray,
    gallery: np.ndarray,
    pairs: np.ndarray,
    keep_q: np.ndarray,
    keep_g: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per-query values of one direction over the kept items, and the exclusion counts."""
    g_index = np.cumsum(keep_g) - 1  # new gallery position of each kept item
    pairs = pairs[keep_q[pairs[:, 0]] & keep_g[pairs[:, 1]]]
    has_positive = np.zeros(len(query), dtype=bool)
    has_positive[pairs[:, 0]] = True
    used = keep_q & has_positive
    q_index = np.cumsum(used) - 1
    pairs = pairs[used[pairs[:, 0]]]
    positives = Positives.from_pairs(q_index[pairs[:, 0]], g_index[pairs[:, 1]], int(used.sum()))
    ranks = rank_queries(
        query[used], gallery[keep_g], positives=positives, top_k=max(KS), map_at_r=True
    )
    excluded = {"no_relevant_item": int((keep_q & ~has_positive).sum())}
    return per_query_values(ranks, KS), excluded


class _QueryMean:
    """The mean of a per-query value: a resamplable metric over queries."""

    higher_is_better = True

    def compute(self, values: np.ndarray) -> float:
        return float(values.mean())

    def compute_resampled(self, values: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return values[indices].mean(axis=1)


def _summary(
    values: dict[str, np.ndarray], resamples: int, level: float, seed: int
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    metrics = {name: float(v.mean()) for name, v in values.items()}
    intervals: dict[str, dict[str, float]] = {}
    for name, v in values.items():
        if resamples > 0 and len(v) > 1:
            ci = bootstrap_ci(_QueryMean(), v, len(v), resamples=resamples, level=level, seed=seed)
            intervals[name] = {"low": ci.low, "high": ci.high, "level": level}
    return metrics, intervals


def evaluate_embeddings(
    path: str | Path,
    out_dir: str | Path,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Retrieval metrics and intervals of both directions of an embeddings file, written to
    ``out_dir`` (``metrics.json``, ``report.md``); returns the ``metrics.json`` payload."""
    from polymodal.io import write_json_atomic, write_text_atomic

    arrays = read_embeddings(path)
    query = np.asarray(arrays["query"], dtype=np.float64)
    gallery = np.asarray(arrays["gallery"], dtype=np.float64)
    pairs = _pairs(arrays)
    nonzero_q, nonzero_g = np.any(query != 0, axis=1), np.any(gallery != 0, axis=1)
    payload: dict[str, Any] = {
        "run": Path(path).stem,
        "dataset": str(path),
        "split": "given",
        "task": "retrieval",
        "num_samples": len(query),
        "metrics": {},
        "intervals": {},
        "excluded": {},
    }
    directions = (
        ("query->gallery", query, gallery, pairs, nonzero_q, nonzero_g),
        ("gallery->query", gallery, query, pairs[:, ::-1], nonzero_g, nonzero_q),
    )
    for name, q, g, p, keep_q, keep_g in directions:
        values, excluded = _direction(q, g, p, keep_q, keep_g)
        excluded["zero_embedding_queries"] = int((~keep_q).sum())
        excluded["zero_embedding_gallery"] = int((~keep_g).sum())
        metrics, intervals = _summary(values, resamples, level, seed)
        payload["metrics"] |= {f"{name}/{k}": v for k, v in metrics.items()}
        payload["metrics"][f"{name}/queries"] = float(len(values["mrr"]))
        payload["intervals"] |= {f"{name}/{k}": v for k, v in intervals.items()}
        payload["excluded"][name] = excluded
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "metrics.json", payload)
    write_text_atomic(out_dir / "report.md", render_report(payload))
    return payload


def render_report(payload: dict[str, Any], keys: Sequence[str] | None = None) -> str:
    """A Markdown report: one row per direction, metrics with their intervals, exclusions."""
    keys = keys or [*(f"R@{k}" for k in KS), *(f"recall@{k}" for k in KS), "mrr", "map@10"]
    metrics, intervals = payload["metrics"], payload["intervals"]
    lines = [
        f"# Retrieval: {payload['run']}",
        "",
        f"Embeddings `{payload['dataset']}` made elsewhere; intervals are "
        "percentile bootstraps over queries.",
        "",
        "| direction | queries | " + " | ".join(keys) + " | excluded |",
        "|---|---|" + "---|" * (len(keys) + 1),
    ]
    for name, excluded in payload["excluded"].items():
        cells = []
        for key in keys:
            value, band = metrics[f"{name}/{key}"], intervals.get(f"{name}/{key}")
            cells.append(
                f"{value:.3f} [{band['low']:.3f}, {band['high']:.3f}]" if band else f"{value:.3f}"
            )
        dropped = ", ".join(f"{k}: {v}" for k, v in excluded.items() if v) or "none"
        queries = int(metrics[f"{name}/queries"])
        lines.append(f"| {name} | {queries} | " + " | ".join(cells) + f" | {dropped} |")
    return "\n".join(lines) + "\n"
