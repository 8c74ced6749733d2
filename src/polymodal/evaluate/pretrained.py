"""Retrieval evaluation of a contrastive run (``pretrain`` without ``model``).

Both towers embed every sample of the split; each direction (a -> b and b -> a) then ranks the
*distinct items* of the gallery modality for every distinct item of the query modality, where an
item is what ``item_keys(modality)`` of the split names (a manifest's file path or inline text;
without it, every sample is its own item). So on image-caption data with 5 captions per image,
text -> image ranks each caption's image among the distinct images, and image -> text ranks the
captions for each image, any of its 5 captions relevant (first relevant = best-ranked one), as
in the Flickr30k / COCO protocol. Pairs with a side absent are not relevance pairs.

Numbers (per direction, from the per-query table ``retrieval_ranks.parquet``):

- ``R@K`` (fraction of queries with a relevant item in the top K), ``median_rank``, ``mrr``;
- ``chance_R@K``: the expected R@K of a random ranking, ``mean_q 1 - C(G - R_q, K) / C(G, K)``
  for a query with ``R_q`` relevant items among ``G``;
- a percentile bootstrap interval for R@K and MRR, resampling queries.

Writes ``metrics.json`` and ``report.md`` into the run directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from polymodal.config import ExperimentConfig
from polymodal.data.bundle import DataBundle
from polymodal.data.loading import make_dataloader
from polymodal.data.schema import Sample
from polymodal.errors import PolymodalError
from polymodal.evaluate.metrics.retrieval import Positives, rank_queries
from polymodal.evaluate.predict import write_table
from polymodal.evaluate.stats import bootstrap_ci
from polymodal.io import write_json_atomic, write_text_atomic
from polymodal.rundir.layout import METRICS_FILE, RANKS_FILE, REPORT_FILE
from polymodal.rundir.load import (
    evaluation_split,
    load_pretrain_objective,
    load_run_config,
    load_run_data,
)

KS = (1, 5, 10)


def chance_recall(n_gallery: int, n_relevant: np.ndarray, k: int) -> float:
    """Expected R@K of a uniformly random ranking: the mean over queries of
    ``1 - C(G - R, K) / C(G, K)`` (``G`` gallery items, ``R`` of them relevant)."""
    r = np.asarray(n_relevant, dtype=np.float64)
    miss = np.ones_like(r)  # probability that none of the top K is relevant
    for i in range(min(k, n_gallery)):
        miss *= np.clip((n_gallery - r - i) / (n_gallery - i), 0.0, None)
    return float(np.mean(1.0 - miss))


def _items(keys: Sequence[Any], present: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Item index of each row (-1 where absent) and the first row of each item."""
    codes: dict[Any, int] = {}
    first: list[int] = []
    item = np.full(len(keys), -1, dtype=np.int64)
    for row, key in enumerate(keys):
        if not present[row]:
            continue
        if key not in codes:
            codes[key] = len(codes)
            first.append(row)
        item[row] = codes[key]
    return item, first


def retrieval_direction(
    query_emb: np.ndarray,
    query_keys: Sequence[Any],
    gallery_emb: np.ndarray,
    gallery_keys: Sequence[Any],
    present: np.ndarray,
    *,
    ks: Sequence[int] = KS,
) -> tuple[pd.DataFrame, int]:
    """Per-query ranks of one direction over distinct items.

    Args:
        query_emb, gallery_emb: ``[N, D]`` embeddings of the N rows for each modality.
        query_keys, gallery_keys: ``[N]`` item keys of each row.
        present: bool ``[N, 2]``: query side, gallery side present.

    Returns:
        A table with one row per distinct query item (``query_row``: its first row,
        ``first_rank``, ``n_relevant``) and the gallery size G.
    """
    both = present[:, 0] & present[:, 1]
    q_item, q_first = _items(query_keys, both)
    g_item, g_first = _items(gallery_keys, both)
    if not q_first or not g_first:
        raise PolymodalError(
            "no pair of the split has both modalities",
            where="retrieval evaluation",
            fix="evaluate a split whose rows hold both towers' modalities",
        )
    rows = np.flatnonzero(both)
    positives = Positives.from_pairs(q_item[rows], g_item[rows], len(q_first))
    ranks = rank_queries(
        query_emb[q_first], gallery_emb[g_first], positives=positives, map_at_r=False
    )
    table = pd.DataFrame(
        {
            "query_row": np.asarray(q_first, dtype=np.int64),
            "first_rank": ranks.first_rank,
            "n_relevant": ranks.n_relevant,
        }
    )
    return table, len(g_first)


class _QueryMean:
    """The mean of a per-query value (R@K hit, reciprocal rank), as a resamplable metric for
    :func:`~polymodal.evaluate.stats.bootstrap_ci` (queries are the resampled units)."""

    higher_is_better = True

    def compute(self, values: np.ndarray) -> float:
        return float(values.mean())

    def compute_resampled(self, values: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return values[indices].mean(axis=1)


def summarize_direction(
    table: pd.DataFrame,
    n_gallery: int,
    *,
    ks: Sequence[int] = KS,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Metrics and intervals of one direction from its per-query table."""
    first = table["first_rank"].to_numpy()
    relevant = table["n_relevant"].to_numpy()
    metrics: dict[str, float] = {}
    per_query: dict[str, np.ndarray] = {}
    for k in ks:
        per_query[f"R@{k}"] = (first <= k).astype(np.float64)
        metrics[f"R@{k}"] = float(per_query[f"R@{k}"].mean())
    per_query["mrr"] = 1.0 / first
    metrics["mrr"] = float(per_query["mrr"].mean())
    metrics["median_rank"] = float(np.median(first))
    for k in ks:
        metrics[f"chance_R@{k}"] = chance_recall(n_gallery, relevant, k)
    metrics["queries"] = float(len(first))
    metrics["gallery"] = float(n_gallery)
    intervals: dict[str, dict[str, float]] = {}
    if resamples > 0:
        for name, values in per_query.items():
            ci = bootstrap_ci(
                _QueryMean(), values, len(values), resamples=resamples, level=level, seed=seed
            )
            intervals[name] = {"low": ci.low, "high": ci.high, "level": level}
    return metrics, intervals


@torch.no_grad()
def embed_split(
    objective: Any,
    dataset: Dataset[Sample],
    specs: dict[str, Any],
    batch_size: int,
    cached: dict[str, Any] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """Embeddings ``modality -> [N, D]`` (float32), presence bool ``[N, 2]`` and ids of a split,
    in dataset order (eval mode)."""
    from polymodal.features.training import cached_loader

    objective.eval()
    if cached:
        loader = cached_loader(dataset, cached, specs, batch_size=batch_size)
    else:
        loader = make_dataloader(dataset, specs, batch_size=batch_size)
    modalities = list(objective.modalities)
    chunks: dict[str, list[np.ndarray]] = {m: [] for m in modalities}
    present: list[np.ndarray] = []
    ids: list[str] = []
    for batch in loader:
        embeddings = objective.embed(batch)
        for m in modalities:
            chunks[m].append(embeddings[m].float().cpu().numpy())
        present.append(
            np.stack([batch.inputs[m].present.cpu().numpy() for m in modalities], axis=1)
        )
        ids.extend(batch.ids)
    return {m: np.concatenate(c) for m, c in chunks.items()}, np.concatenate(present), ids


def item_keys_of(dataset: Dataset[Sample], modality: str, ids: Sequence[str]) -> list[Any]:
    """The split's ``item_keys(modality)``, or the sample ids when it has none."""
    keys = getattr(dataset, "item_keys", None)
    return list(keys(modality)) if keys is not None else list(ids)


def evaluate_pretrained(
    run_dir: str | Path,
    *,
    split: str | None = None,
    batch_size: int | None = None,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Retrieval metrics of a contrastive run over ``split`` (default: the config's eval split),
    both directions; writes ``retrieval_ranks.parquet``, ``metrics.json`` and ``report.md``.

    Returns:
        The ``metrics.json`` payload: ``metrics`` (``"<query>-><gallery>/R@1"``, ...),
        ``intervals``, ``split``, ``num_samples``.
    """
    run_dir = Path(run_dir)
    bundle = load_run_data(run_dir, load_run_config(run_dir))
    config, objective = load_pretrain_objective(run_dir, bundle.info)
    split, dataset = evaluation_split(config, bundle, split, run_dir)
    size = batch_size or config.eval.batch_size or config.pretrain_train.batch_size
    objective, cached = _cached(config, bundle, objective, split, size, run_dir)
    specs = {m: bundle.info.modalities[m] for m in objective.modalities}
    emb, present, ids = embed_split(objective, dataset, specs, size, cached)
    keys = {m: item_keys_of(dataset, m, ids) for m in objective.modalities}
    metrics, intervals, ranks = retrieval_both_ways(
        emb, present, ids, keys, resamples=resamples, level=level, seed=seed
    )
    write_table(ranks, run_dir / RANKS_FILE)
    payload = {
        "run": config.name or run_dir.name,
        "dataset": config.data.name,
        "split": split,
        "num_samples": len(ids),
        "objective": config.pretrain.objective.name if config.pretrain else None,
        "metrics": metrics,
        "intervals": intervals,
    }
    write_json_atomic(run_dir / METRICS_FILE, payload)
    report = render_retrieval_report(payload, objective.modalities)
    write_text_atomic(run_dir / REPORT_FILE, report)
    return payload


def _cached(
    config: ExperimentConfig,
    bundle: DataBundle,
    objective: Any,
    split: str,
    size: int,
    run_dir: Path,
) -> tuple[Any, dict[str, Any] | None]:
    """The objective reading cached features of its frozen encoders, and the features of
    ``split`` (``modality -> CachedFeatures``), when the run's ``feature_cache`` is on; else
    ``objective`` itself and None."""
    from polymodal.features.training import cache_dir_of
    from polymodal.train.pretrain import cached_objective

    cache_dir = cache_dir_of(config.pretrain_train.feature_cache, run_dir)
    if cache_dir is None:
        return objective, None
    objective, found = cached_objective(
        config, bundle, objective, cache_dir, batch_size=size, splits=[split]
    )
    return objective, found.get(split)


def retrieval_both_ways(
    emb: dict[str, np.ndarray],
    present: np.ndarray,
    ids: Sequence[str],
    keys: dict[str, list[Any]],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, dict[str, float]], pd.DataFrame]:
    """Metrics, intervals and per-query ranks of both directions ``a -> b`` and ``b -> a``.

    Args:
        emb: ``modality -> [N, D]`` embeddings of the two modalities ``a, b`` (in this order).
        present: bool ``[N, 2]``: ``a`` present, ``b`` present.
        ids: ``[N]`` sample ids.
        keys: ``modality -> [N]`` item keys.

    Returns:
        ``metrics`` and ``intervals`` keyed ``"<query>-><gallery>/<name>"``, and the ranks table
        (``direction``, ``query_id``, then the columns of :func:`retrieval_direction`).
    """
    a, b = emb
    metrics: dict[str, float] = {}
    intervals: dict[str, dict[str, float]] = {}
    tables = []
    for q, g, cols in ((a, b, [0, 1]), (b, a, [1, 0])):
        table, n_gallery = retrieval_direction(emb[q], keys[q], emb[g], keys[g], present[:, cols])
        values, bands = summarize_direction(
            table, n_gallery, resamples=resamples, level=level, seed=seed
        )
        name = f"{q}->{g}"
        metrics |= {f"{name}/{k}": v for k, v in values.items()}
        intervals |= {f"{name}/{k}": v for k, v in bands.items()}
        table.insert(0, "direction", name)
        table.insert(1, "query_id", [ids[i] for i in table["query_row"]])
        tables.append(table)
    return metrics, intervals, pd.concat(tables, ignore_index=True)


def render_retrieval_report(payload: dict[str, Any], modalities: Sequence[str]) -> str:
    """A Markdown report: one row per direction, R@K with intervals next to chance."""
    a, b = modalities
    metrics, intervals = payload["metrics"], payload["intervals"]
    lines = [
        f"# Retrieval: {payload['run']}",
        "",
        f"Dataset `{payload['dataset']}`, split `{payload['split']}`, "
        f"{payload['num_samples']} pairs, objective `{payload['objective']}`. Items are "
        "deduplicated (e.g. one image with 5 captions is one gallery item); intervals are 95% "
        "percentile bootstraps over queries.",
        "",
        "| direction | queries | gallery | "
        + " | ".join(f"R@{k}" for k in KS)
        + " | median rank | MRR | "
        + " | ".join(f"chance R@{k}" for k in KS)
        + " |",
        "|---|---|---|" + "---|" * (2 * len(KS) + 2),
    ]
    for q, g in ((a, b), (b, a)):
        name = f"{q}->{g}"

        def cell(key: str, name: str = name) -> str:
            value = metrics[f"{name}/{key}"]
            band = intervals.get(f"{name}/{key}")
            return (
                f"{value:.3f} [{band['low']:.3f}, {band['high']:.3f}]" if band else f"{value:.3f}"
            )

        recalls = " | ".join(cell(f"R@{k}") for k in KS)
        chance = " | ".join(f"{metrics[f'{name}/chance_R@{k}']:.3f}" for k in KS)
        lines.append(
            f"| {q} → {g} | {int(metrics[f'{name}/queries'])} | "
            f"{int(metrics[f'{name}/gallery'])} | {recalls} | "
            f"{metrics[f'{name}/median_rank']:.1f} | {cell('mrr')} | {chance} |"
        )
    return "\n".join(lines) + "\n"
