"""Retrieval metrics over query and gallery embeddings: R@K, median / mean rank, MRR, mAP@R.

Relevance is given either as class labels (a gallery item is relevant to a query of the same
label) or as a query -> gallery positives mapping (several positives per query, e.g. the 5
captions of an image). Gallery items are ranked by decreasing similarity (cosine by default),
ties broken by gallery index, i.e. the order of a stable sort.

Per query (Q queries, G gallery items, R = number of relevant items of the query):

- ``first_rank``: 1-based rank of the first relevant item; ``R@K`` is the fraction of queries
  with ``first_rank <= K`` (a fraction in [0, 1], not a percentage); ``median_rank`` /
  ``mean_rank`` are the median / mean of ``first_rank``; ``mrr`` the mean of ``1 / first_rank``;
- ``AP@R = (1 / R) sum_{i=1..R} P(i) rel(i)``, with P(i) the precision of the top i items, and
  ``map@r`` its mean (Musgrave et al., "A Metric Learning Reality Check", ECCV 2020);
- ``recall@K``: the share of a query's R relevant items among its top K, averaged over queries
  (torchmetrics' ``retrieval_recall(top_k=K)``); with one relevant item per query it equals
  the hit rate ``R@K``, with several it is smaller;
- ``map@K``: the mean over queries of ``AP@K = (1 / H) sum_{i <= K, rel(i)} P(i)``, H the
  relevant items in the top K (0 when H = 0), torchmetrics' ``retrieval_average_precision
  (top_k=K)``.

Everything is computed exactly, by chunks of queries: a chunk's similarities ``[q, G]`` are
computed, reduced to per-query numbers and dropped, so memory stays bounded (about
:data:`CHUNK_ELEMENTS` similarities at once) even for 10^5 x 10^5. Values do not depend on the
chunking, up to the float rounding of the similarity product itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from polymodal.evaluate.metrics.inputs import MetricError
from polymodal.evaluate.metrics.sums import safe_divide

Similarity = Literal["cosine", "dot"]

CHUNK_ELEMENTS = 1 << 23
"""Similarities ``[q, G]`` held at once by default (8 Mi: 32 MiB in float32)."""


@dataclass(frozen=True)
class Positives:
    """Relevant gallery items of each query, in compressed sparse row form.

    Attributes:
        indptr: int64 ``[Q + 1]``; query q's positives are ``indices[indptr[q]:indptr[q + 1]]``.
        indices: int64 ``[P]`` gallery positions, sorted and unique within each query.
    """

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def from_pairs(
        cls, query: Sequence[int] | np.ndarray, gallery: Sequence[int] | np.ndarray, n_queries: int
    ) -> Positives:
        """Positives from (query, gallery) pairs, e.g. ``(caption, image)`` per caption."""
        q = np.asarray(query, dtype=np.int64).reshape(-1)
        g = np.asarray(gallery, dtype=np.int64).reshape(-1)
        if q.shape != g.shape:
            raise MetricError(f"{len(q)} query positions for {len(g)} gallery positions")
        if len(q) and (q.min() < 0 or q.max() >= n_queries):
            raise MetricError(f"query positions must lie in [0, {n_queries})")
        if len(g) and g.min() < 0:
            raise MetricError("gallery positions must be >= 0")
        width = int(g.max(initial=0)) + 1
        keys = np.unique(q * width + g)  # sorted unique (query, gallery) pairs
        q, g = keys // width, keys % width
        indptr = np.r_[0, np.cumsum(np.bincount(q, minlength=n_queries))].astype(np.int64)
        return cls(indptr, g)

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[int]]) -> Positives:
        """Positives from one sequence of gallery positions per query."""
        counts = [len(items) for items in lists]
        query = np.repeat(np.arange(len(lists)), counts)
        gallery = np.concatenate([np.asarray(items, np.int64) for items in lists] or [[]])
        return cls.from_pairs(query, gallery.astype(np.int64), len(lists))

    @property
    def counts(self) -> np.ndarray:
        """int64 ``[Q]``: number of positives of each query."""
        return np.diff(self.indptr)

    def without_self(self) -> Positives:
        """The same positives with query q's own position q removed (query set = gallery set)."""
        query = np.repeat(np.arange(len(self.indptr) - 1), self.counts)
        keep = self.indices != query
        return Positives.from_pairs(query[keep], self.indices[keep], len(self.indptr) - 1)


@dataclass(frozen=True)
class RetrievalRanks:
    """Per-query retrieval results (so that intervals can resample queries).

    Attributes:
        first_rank: int64 ``[Q]`` 1-based rank of the first relevant gallery item.
        n_relevant: int64 ``[Q]`` number of relevant gallery items R.
        ap_at_r: float64 ``[Q]`` AP@R, or None when not computed.
        top_hits: bool ``[Q, W]``: whether each of the top W items is relevant (W = the
            ``top_k`` of :func:`rank_queries`, at most G), or None when not computed.
    """

    first_rank: np.ndarray
    n_relevant: np.ndarray
    ap_at_r: np.ndarray | None
    top_hits: np.ndarray | None = None


def _as_embeddings(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[0] == 0:
        raise MetricError(f"{name} embeddings must be a non-empty [N, D] array, got {array.shape}")
    if array.dtype.kind not in "fiu":
        raise MetricError(f"{name} embeddings must be numeric, got {array.dtype}")
    array = array.astype(np.result_type(array.dtype, np.float32), copy=False)
    if not np.all(np.isfinite(array)):
        raise MetricError(f"{name} embeddings contain NaN or infinite values")
    return array


def _prepare(query: np.ndarray, gallery: np.ndarray, similarity: Similarity) -> tuple:
    if query.shape[1] != gallery.shape[1]:
        raise MetricError(
            f"query width {query.shape[1]} differs from gallery width {gallery.shape[1]}",
            fix="embed queries and gallery into the same space",
        )
    dtype = np.result_type(query.dtype, gallery.dtype)
    query, gallery = query.astype(dtype, copy=False), gallery.astype(dtype, copy=False)
    if similarity == "dot":
        return query, gallery
    if similarity != "cosine":
        raise MetricError(f"unknown similarity {similarity!r}", fix="use 'cosine' or 'dot'")
    out = []
    for name, x in (("query", query), ("gallery", gallery)):
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise MetricError(
                f"{int(np.sum(norms == 0))} {name} embeddings are all zeros (no cosine)",
                fix="drop them, or use similarity='dot'",
            )
        out.append(x / norms)
    return out[0], out[1]


@dataclass(frozen=True)
class _Relevance:
    """Relevance in one of two forms: label codes, or positives (CSR)."""

    query_codes: np.ndarray | None
    gallery_codes: np.ndarray | None
    positives: Positives | None
    n_relevant: np.ndarray  # int64 [Q]
    exclude_self: bool


def _relevance(
    n_queries: int,
    n_gallery: int,
    positives: Positives | Sequence[Sequence[int]] | None,
    query_labels: Any,
    gallery_labels: Any,
    exclude_self: bool,
) -> _Relevance:
    if exclude_self and n_queries != n_gallery:
        raise MetricError(
            f"exclude_self needs the query set to be the gallery ({n_queries} != {n_gallery})"
        )
    by_labels = query_labels is not None or gallery_labels is not None
    if by_labels == (positives is not None):
        raise MetricError(
            "give relevance either as labels (query_labels and gallery_labels) or as positives",
            fix="pass positives=... or query_labels=... and gallery_labels=...",
        )
    if by_labels:
        q_labels, g_labels = np.asarray(query_labels), np.asarray(gallery_labels)
        if q_labels.shape != (n_queries,) or g_labels.shape != (n_gallery,):
            raise MetricError(
                f"labels must be [{n_queries}] and [{n_gallery}], "
                f"got {q_labels.shape} and {g_labels.shape}"
            )
        if exclude_self and not np.array_equal(q_labels, g_labels):
            raise MetricError("exclude_self needs query_labels equal to gallery_labels")
        classes, codes = np.unique(np.r_[q_labels, g_labels], return_inverse=True)
        q_codes, g_codes = codes[:n_queries], codes[n_queries:]
        n_relevant = np.bincount(g_codes, minlength=len(classes))[q_codes] - int(exclude_self)
        relevance = _Relevance(q_codes, g_codes, None, n_relevant, exclude_self)
    else:
        if not isinstance(positives, Positives):
            positives = Positives.from_lists(positives)  # type: ignore[arg-type]
        if len(positives.indptr) != n_queries + 1:
            raise MetricError(f"positives cover {len(positives.indptr) - 1} of {n_queries} queries")
        if len(positives.indices) and positives.indices.max() >= n_gallery:
            raise MetricError(f"positive gallery positions must lie in [0, {n_gallery})")
        if exclude_self:
            positives = positives.without_self()
        relevance = _Relevance(None, None, positives, positives.counts, exclude_self)
    empty = np.flatnonzero(relevance.n_relevant <= 0)
    if len(empty):
        raise MetricError(
            f"{len(empty)} queries have no relevant gallery item (first: query {int(empty[0])})",
            fix="drop those queries, or add their positives to the gallery",
        )
    return relevance


def _best_relevant(
    sims: np.ndarray, rel: _Relevance, start: int
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Score and gallery index of each query's first relevant item (highest score, lowest index
    on ties), plus what :func:`_relevant_mask` needs: ``([q], [q], context)``."""
    q, g = sims.shape
    rows = np.arange(q)
    if rel.positives is None:
        assert rel.query_codes is not None
        assert rel.gallery_codes is not None
        mask = rel.gallery_codes[None, :] == rel.query_codes[start : start + q, None]  # [q, G]
        if rel.exclude_self:
            mask[rows, start + rows] = False
        masked = np.where(mask, sims, -np.inf)
        best_index = masked.argmax(axis=1)  # first maximum: lowest index on ties
        return masked[rows, best_index], best_index, None
    lo, hi = rel.positives.indptr[start], rel.positives.indptr[start + q]
    cols = rel.positives.indices[lo:hi]  # [P_chunk], sorted within each row
    owner = np.repeat(rows, rel.positives.counts[start : start + q])  # local row of each
    starts = rel.positives.indptr[start : start + q] - lo
    values = sims[owner, cols]
    best = np.maximum.reduceat(values, starts)
    best_index = np.minimum.reduceat(np.where(values == best[owner], cols, g), starts)
    return best, best_index, owner * g + cols  # sorted keys of the chunk's positives


def _count_per_row(mask: np.ndarray) -> np.ndarray:
    """True values of each row of a bool ``[q, G]``: int64 ``[q]`` (a row loop of the SIMD
    ``count_nonzero`` is several times faster than ``count_nonzero(axis=1)``)."""
    return np.fromiter((np.count_nonzero(row) for row in mask), dtype=np.int64, count=len(mask))


def _first_ranks(
    sims: np.ndarray, best: np.ndarray, best_index: np.ndarray, scratch: np.ndarray
) -> np.ndarray:
    """1 + number of items ranked above the best relevant one (higher score, or equal score and
    lower index); no relevant item can be among them. ``scratch`` is a bool buffer like sims."""
    ahead = _count_per_row(np.greater(sims, best[:, None], out=scratch))
    tied = _count_per_row(np.equal(sims, best[:, None], out=scratch))
    for i in np.flatnonzero(tied > 1):  # rare: exact ties with the best relevant score
        ahead[i] += np.count_nonzero(sims[i, : best_index[i]] == best[i])
    return ahead + 1


def _top_items(sims: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Gallery indices of the top ``max(n_relevant)`` items of each row, in rank order (score
    descending, index ascending): int64 ``[q, Rmax]``."""
    import torch  # lazy: torch.topk is far faster than np.argpartition for small k

    q, g = sims.shape
    rmax = int(n_relevant.max())
    values_t, index_t = torch.topk(torch.from_numpy(sims), rmax, dim=1, sorted=True)
    values, index = values_t.numpy(), index_t.numpy().astype(np.int64)
    order = np.lexsort((index, -values), axis=1)  # score descending, then index
    values = np.take_along_axis(values, order, axis=1)
    index = np.take_along_axis(index, order, axis=1)
    # An item tied with the smallest selected score may have been left out in favour of one
    # with a higher index; that matters only where a row's R-th value equals that score.
    kth = values[:, -1]
    suspect = np.flatnonzero(values[np.arange(q), n_relevant - 1] == kth)
    if len(suspect):
        n_at_least = _count_per_row(sims[suspect] >= kth[suspect, None])
        for i in suspect[n_at_least > rmax]:
            index[i] = np.lexsort((np.arange(g), -sims[i]))[:rmax]
    return index


def _hits(
    top: np.ndarray, rel: _Relevance, start: int, positive_keys: np.ndarray | None, g: int
) -> np.ndarray:
    """Whether each of the ranked items ``top [q, W]`` is relevant to its query: bool."""
    q = top.shape[0]
    rows = np.arange(q)[:, None]
    if positive_keys is None:
        assert rel.query_codes is not None
        assert rel.gallery_codes is not None
        hit = rel.gallery_codes[top] == rel.query_codes[start : start + q, None]
        if rel.exclude_self:
            hit &= top != start + rows
        return hit
    keys = rows * g + top  # [q, W]
    where = np.minimum(np.searchsorted(positive_keys, keys), len(positive_keys) - 1)
    return positive_keys[where] == keys


def _ap_at_r(hit: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """AP@R of each query from the relevance of its top items ``hit [q, W]`` (W >= R)."""
    width = hit.shape[1]
    hit = hit & (np.arange(width)[None, :] < n_rel[:, None])  # only the top R of each query
    precision = np.cumsum(hit, axis=1) / np.arange(1, width + 1)  # P(i), [q, W]
    return (precision * hit).sum(axis=1) / n_rel


def _chunk_tops(
    sims: np.ndarray, rel: _Relevance, start: int, keys: np.ndarray | None, widths: tuple
) -> np.ndarray:
    """Relevance of each query's top ``max(R if AP@R, top_k)`` items: bool ``[q, W]``."""
    map_at_r, top_k = widths
    q, g = sims.shape
    need = np.full(q, min(top_k, g), dtype=np.int64)
    if map_at_r:
        need = np.maximum(need, rel.n_relevant[start : start + q])
    return _hits(_top_items(sims, need), rel, start, keys, g)


def rank_queries(
    query: Any,
    gallery: Any,
    *,
    positives: Positives | Sequence[Sequence[int]] | None = None,
    query_labels: Any = None,
    gallery_labels: Any = None,
    similarity: Similarity = "cosine",
    map_at_r: bool = True,
    exclude_self: bool = False,
    chunk_size: int | None = None,
    top_k: int = 0,
) -> RetrievalRanks:
    """Rank the gallery for every query, by chunks of queries; per-query results.

    Args:
        query: float ``[Q, D]`` query embeddings (numpy array or CPU tensor).
        gallery: float ``[G, D]`` gallery embeddings.
        positives: relevant gallery positions of each query (:class:`Positives` or one
            sequence per query); or else
        query_labels, gallery_labels: ``[Q]`` and ``[G]`` class labels (same label = relevant).
        similarity: ``cosine`` (rows L2-normalised) or ``dot``.
        map_at_r: also compute AP@R (one top-R selection per query).
        exclude_self: the query set is the gallery: query q never retrieves gallery item q,
            which is not relevant to it either.
        chunk_size: queries per chunk; default ``CHUNK_ELEMENTS // G`` (at least 1).
        top_k: also keep the relevance of each query's top ``top_k`` items (``top_hits``, for
            recall@K and map@K); 0: not computed.

    Returns:
        :class:`RetrievalRanks`. Similarities are computed in float32 (float64 if an input is).

    Raises:
        MetricError: shapes disagree, relevance is given both or neither way, or a query has no
            relevant gallery item.
    """
    q_emb, g_emb = _prepare(
        _as_embeddings(query, "query"), _as_embeddings(gallery, "gallery"), similarity
    )
    n_q, n_g = len(q_emb), len(g_emb)
    rel = _relevance(n_q, n_g, positives, query_labels, gallery_labels, exclude_self)
    step = chunk_size or max(1, CHUNK_ELEMENTS // n_g)
    if step < 1:
        raise MetricError(f"chunk_size must be >= 1, got {chunk_size}")
    out = RetrievalRanks(
        np.empty(n_q, dtype=np.int64),
        rel.n_relevant.astype(np.int64),
        np.empty(n_q, dtype=np.float64) if map_at_r else None,
        np.zeros((n_q, min(top_k, n_g)), dtype=bool) if min(top_k, n_g) > 0 else None,
    )
    _rank_chunks(q_emb, g_emb, rel, step, out)
    return out


def _rank_chunks(
    q_emb: np.ndarray, g_emb: np.ndarray, rel: _Relevance, step: int, out: RetrievalRanks
) -> None:
    """Fill ``out``'s per-query arrays chunk by chunk of ``step`` queries."""
    n_q, n_g = len(q_emb), len(g_emb)
    width = 0 if out.top_hits is None else out.top_hits.shape[1]
    # buffers reused by every chunk: no fresh 10-100 MB allocation (and page faults) per chunk
    gallery_t = np.ascontiguousarray(g_emb.T)  # [D, G]: a faster matmul operand than a view
    sims_buffer = np.empty((min(step, n_q), n_g), dtype=q_emb.dtype)
    bool_buffer = np.empty((min(step, n_q), n_g), dtype=bool)
    for start in range(0, n_q, step):
        stop = min(start + step, n_q)
        sims = np.matmul(q_emb[start:stop], gallery_t, out=sims_buffer[: stop - start])  # [q, G]
        if rel.exclude_self:
            local = np.arange(stop - start)
            sims[local, start + local] = -np.inf
        best, best_index, positive_keys = _best_relevant(sims, rel, start)
        out.first_rank[start:stop] = _first_ranks(
            sims, best, best_index, bool_buffer[: stop - start]
        )
        if out.ap_at_r is None and out.top_hits is None:
            continue
        hit = _chunk_tops(sims, rel, start, positive_keys, (out.ap_at_r is not None, width))
        if out.ap_at_r is not None:
            out.ap_at_r[start:stop] = _ap_at_r(hit, rel.n_relevant[start:stop])
        if out.top_hits is not None:
            out.top_hits[start:stop] = hit[:, :width]


def per_query_values(
    ranks: RetrievalRanks, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, np.ndarray]:
    """The per-query values whose means are the metrics (float64 ``[Q]`` each): ``R@K`` hits,
    ``mrr`` reciprocal ranks, ``map@r``, and with ``top_hits`` ``recall@K`` and ``map@K``."""
    r = ranks.first_rank
    out = {f"R@{k}": (r <= k).astype(np.float64) for k in ks}
    out["mrr"] = 1.0 / r
    if ranks.ap_at_r is not None:
        out["map@r"] = ranks.ap_at_r
    if ranks.top_hits is not None:
        for k in ks:
            hit = ranks.top_hits[:, :k]  # [Q, k] (fewer columns when G < k)
            found = hit.sum(axis=1)
            out[f"recall@{k}"] = found / ranks.n_relevant
            precision = np.cumsum(hit, axis=1) / np.arange(1, hit.shape[1] + 1)
            out[f"map@{k}"] = safe_divide((precision * hit).sum(axis=1), found)
    return out


def summarize(ranks: RetrievalRanks, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"R@1": ..., "median_rank", "mean_rank", "mrr", "map@r"}`` from per-query results,
    plus ``recall@K`` and ``map@K`` when the ranks have ``top_hits``."""
    values = per_query_values(ranks, ks)
    out = {f"R@{k}": float(values.pop(f"R@{k}").mean()) for k in ks}
    out["median_rank"] = float(np.median(ranks.first_rank))
    out["mean_rank"] = float(np.mean(ranks.first_rank))
    out |= {name: float(v.mean()) for name, v in values.items()}
    return out


def retrieval_metrics(
    query: Any,
    gallery: Any,
    *,
    positives: Positives | Sequence[Sequence[int]] | None = None,
    query_labels: Any = None,
    gallery_labels: Any = None,
    ks: Sequence[int] = (1, 5, 10),
    similarity: Similarity = "cosine",
    map_at_r: bool = True,
    exclude_self: bool = False,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """R@K, recall@K, mAP@K, median / mean rank, MRR and mAP@R of one retrieval direction (see
    :func:`rank_queries` for the arguments and :func:`summarize` for the keys)."""
    ranks = rank_queries(
        query,
        gallery,
        positives=positives,
        query_labels=query_labels,
        gallery_labels=gallery_labels,
        similarity=similarity,
        map_at_r=map_at_r,
        exclude_self=exclude_self,
        chunk_size=chunk_size,
        top_k=max(ks),
    )
    return summarize(ranks, ks)


def image_text_retrieval(
    image: Any,
    text: Any,
    text_to_image: Sequence[int] | np.ndarray,
    *,
    ks: Sequence[int] = (1, 5, 10),
    similarity: Similarity = "cosine",
    map_at_r: bool = True,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Both directions of image-text retrieval, e.g. COCO / Flickr30k with 5 captions per image.

    Args:
        image: ``[N_img, D]`` image embeddings.
        text: ``[N_txt, D]`` caption embeddings.
        text_to_image: int ``[N_txt]``, the image of each caption (every image needs >= 1).

    Returns:
        ``t2i/<key>`` (each caption retrieves its one image) and ``i2t/<key>`` (each image
        retrieves any of its captions; first relevant = best-ranked caption) for the keys of
        :func:`summarize`.
    """
    pairs = np.asarray(text_to_image, dtype=np.int64).reshape(-1)
    n_image = len(_as_embeddings(image, "image"))
    captions = np.arange(len(pairs))
    common = {"ks": ks, "similarity": similarity, "map_at_r": map_at_r, "chunk_size": chunk_size}
    t2i = retrieval_metrics(
        text, image, positives=Positives.from_pairs(captions, pairs, len(pairs)), **common
    )
    i2t = retrieval_metrics(
        image, text, positives=Positives.from_pairs(pairs, captions, n_image), **common
    )
    return {
        **{f"t2i/{k}": v for k, v in t2i.items()},
        **{f"i2t/{k}": v for k, v in i2t.items()},
    }
