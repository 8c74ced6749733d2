"""Retrieval metrics: hand computations on tiny cases, brute force, chunking, both directions."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.evaluate.metrics import (
    MetricError,
    Positives,
    image_text_retrieval,
    rank_queries,
    retrieval_metrics,
)

# With an identity gallery and dot similarity, the similarities are the query rows themselves.
SIMS = np.array(
    [
        [0.9, 0.1, 0.5, 0.7],  # positives {2, 3}: ranked 0, 3, 2, 1 -> first 2; AP@2 = 1/2 * 1/2
        [0.2, 0.8, 0.3, 0.1],  # positives {1}: first 1; AP@1 = 1
        [0.5, 0.5, 0.5, 0.6],  # positives {2}: ranked 3, 0, 1, 2 (ties by index) -> 4; AP@1 = 0
        [0.5, 0.5, 0.5, 0.1],  # positives {0, 2}: ranked 0, 1, 2 -> first 1; AP@2 = 1/2 * 1
    ]
)
POSITIVES = [[2, 3], [1], [2], [0, 2]]
EYE = np.eye(4)


def brute_force(sims: np.ndarray, relevant: list[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    """First rank and AP@R of each query from a full stable sort of its similarity row."""
    first, ap = [], []
    for row, rel in zip(sims, relevant, strict=True):
        order = np.lexsort((np.arange(len(row)), -row))
        hits = np.isin(order, sorted(rel))
        first.append(int(np.argmax(hits)) + 1)
        top = hits[: len(rel)]
        ap.append(sum(top[:i].sum() / i for i in range(1, len(rel) + 1) if top[i - 1]) / len(rel))
    return np.array(first), np.array(ap)


def test_tiny_case_by_hand():
    got = retrieval_metrics(SIMS, EYE, positives=POSITIVES, similarity="dot", ks=(1, 2, 3))
    assert got["R@1"] == pytest.approx(2 / 4)
    assert got["R@2"] == pytest.approx(3 / 4)
    assert got["R@3"] == pytest.approx(3 / 4)
    assert got["median_rank"] == pytest.approx(1.5)
    assert got["mean_rank"] == pytest.approx((2 + 1 + 4 + 1) / 4)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 + 1 / 4 + 1) / 4)
    assert got["map@r"] == pytest.approx((1 / 4 + 1 + 0 + 1 / 2) / 4)


def test_tiny_case_per_query_and_by_labels():
    ranks = rank_queries(SIMS, EYE, positives=POSITIVES, similarity="dot")
    np.testing.assert_array_equal(ranks.first_rank, [2, 1, 4, 1])
    np.testing.assert_allclose(ranks.ap_at_r, [1 / 4, 1, 0, 1 / 2])
    np.testing.assert_array_equal(ranks.n_relevant, [2, 1, 1, 2])
    # class relevance: gallery labels a b a c; queries of labels a, b, c
    by_label = rank_queries(
        SIMS[:3], EYE, query_labels=["a", "b", "c"], gallery_labels=["a", "b", "a", "c"],
        similarity="dot",
    )  # fmt: skip
    np.testing.assert_array_equal(by_label.first_rank, [1, 1, 1])
    np.testing.assert_allclose(by_label.ap_at_r, [1 / 2, 1, 1])


@pytest.mark.parametrize("mode", ["positives", "labels"])
def test_against_brute_force_and_chunking(mode):
    rng = np.random.default_rng(0)
    query, gallery = rng.normal(size=(37, 8)), rng.normal(size=(53, 8))
    query[5] = gallery[3]  # an exact copy, and ties from duplicated gallery rows
    gallery[10] = gallery[3]
    if mode == "labels":
        q_lab, g_lab = rng.integers(0, 4, 37), rng.integers(0, 4, 53)
        relevant = [set(np.flatnonzero(g_lab == c)) for c in q_lab]
        kwargs = {"query_labels": q_lab, "gallery_labels": g_lab}
    else:
        relevant = [set(rng.choice(53, rng.integers(1, 6), replace=False)) for _ in range(37)]
        relevant[5] |= {3, 10}
        kwargs = {"positives": [sorted(r) for r in relevant]}
    qn = query / np.linalg.norm(query, axis=1, keepdims=True)
    gn = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    first, ap = brute_force(qn @ gn.T, relevant)
    for chunk_size in (None, 1, 6):
        ranks = rank_queries(query, gallery, chunk_size=chunk_size, **kwargs)
        np.testing.assert_array_equal(ranks.first_rank, first)
        np.testing.assert_allclose(ranks.ap_at_r, ap, atol=1e-12)


def test_exact_ties_are_broken_by_gallery_index():
    sims = np.array([[0.5, 0.5, 0.5, 0.5, 0.5]])
    ranks = rank_queries(sims, np.eye(5), positives=[[1, 3, 4]], similarity="dot")
    assert ranks.first_rank[0] == 2
    # top 3 = items 0, 1, 2: hit at position 2 -> AP@3 = (1/2) / 3
    assert ranks.ap_at_r[0] == pytest.approx(0.5 / 3)


def test_exclude_self_with_labels():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5))
    labels = rng.integers(0, 3, 30)
    ranks = rank_queries(x, x, query_labels=labels, gallery_labels=labels, exclude_self=True)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = xn @ xn.T
    np.fill_diagonal(sims, -np.inf)
    relevant = [set(np.flatnonzero(labels == c)) - {i} for i, c in enumerate(labels)]
    first, ap = brute_force(sims, relevant)
    np.testing.assert_array_equal(ranks.first_rank, first)
    np.testing.assert_allclose(ranks.ap_at_r, ap, atol=1e-12)


def test_image_text_both_directions():
    rng = np.random.default_rng(2)
    image = rng.normal(size=(12, 6))
    text_to_image = np.repeat(np.arange(12), 5)  # 5 captions per image
    text = image[text_to_image] + rng.normal(0, 1.5, size=(60, 6))
    got = image_text_retrieval(image, text, text_to_image)
    i_n = image / np.linalg.norm(image, axis=1, keepdims=True)
    t_n = text / np.linalg.norm(text, axis=1, keepdims=True)
    first_t2i, _ = brute_force(t_n @ i_n.T, [{int(i)} for i in text_to_image])
    first_i2t, ap_i2t = brute_force(i_n @ t_n.T, [set(range(5 * i, 5 * i + 5)) for i in range(12)])
    for k in (1, 5, 10):
        assert got[f"t2i/R@{k}"] == pytest.approx(np.mean(first_t2i <= k))
        assert got[f"i2t/R@{k}"] == pytest.approx(np.mean(first_i2t <= k))
    assert got["i2t/median_rank"] == pytest.approx(np.median(first_i2t))
    assert got["i2t/map@r"] == pytest.approx(np.mean(ap_i2t))
    assert got["t2i/mrr"] == pytest.approx(np.mean(1 / first_t2i))


def test_positives_from_pairs_sorts_and_dedupes():
    positives = Positives.from_pairs([1, 0, 1, 1], [4, 2, 0, 4], n_queries=3)
    np.testing.assert_array_equal(positives.indptr, [0, 1, 3, 3])
    np.testing.assert_array_equal(positives.indices, [2, 0, 4])


def test_relevance_errors():
    with pytest.raises(MetricError, match="no relevant gallery item"):
        rank_queries(SIMS, EYE, positives=[[0], [], [1], [2]])
    with pytest.raises(MetricError, match="either as labels"):
        rank_queries(SIMS, EYE)
    with pytest.raises(MetricError, match="no relevant gallery item"):
        rank_queries(SIMS[:1], EYE, query_labels=["z"], gallery_labels=list("abcd"))
    with pytest.raises(MetricError, match="width"):
        rank_queries(SIMS, np.eye(3), positives=POSITIVES)


def test_recall_at_k_and_map_at_k_equal_torchmetrics_with_several_positives():
    import torch
    from torchmetrics.functional.retrieval import retrieval_average_precision, retrieval_recall

    from polymodal.evaluate.metrics import retrieval_metrics

    rng = np.random.default_rng(7)
    query, gallery = rng.normal(size=(30, 8)), rng.normal(size=(40, 8))
    lists = [sorted(rng.choice(40, size=rng.integers(1, 6), replace=False)) for _ in range(30)]
    values = retrieval_metrics(query, gallery, positives=lists, ks=(1, 5, 10))
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    sims = torch.tensor(q @ g.T)
    for k in (1, 5, 10):
        recall, ap = [], []
        for i, items in enumerate(lists):
            target = torch.zeros(40, dtype=torch.bool)
            target[list(items)] = True
            recall.append(float(retrieval_recall(sims[i], target, top_k=k)))
            ap.append(float(retrieval_average_precision(sims[i], target, top_k=k)))
        assert values[f"recall@{k}"] == pytest.approx(np.mean(recall), abs=1e-6)
        assert values[f"map@{k}"] == pytest.approx(np.mean(ap), abs=1e-6)
    assert values["recall@5"] < values["R@5"]  # several positives: recall below the hit rate
