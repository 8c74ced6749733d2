"""Retrieval scoring of contrastive runs: chance level and deduplicated items."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from polymodal.evaluate.pretrained import chance_recall, retrieval_direction, summarize_direction


@pytest.mark.parametrize(("gallery", "relevant", "k"), [(10, 1, 1), (10, 3, 2), (7, 2, 5)])
def test_chance_recall_matches_enumeration(gallery, relevant, k):
    # every ranking's top k, counted: the share that holds one of the first `relevant` items
    tops = list(itertools.combinations(range(gallery), k))
    hits = sum(any(i < relevant for i in top) for top in tops) / len(tops)
    assert chance_recall(gallery, np.array([relevant]), k) == pytest.approx(hits)


def test_chance_recall_is_one_when_k_covers_the_gallery():
    assert chance_recall(4, np.array([1, 2]), 10) == pytest.approx(1.0)


def test_direction_deduplicates_items_and_ranks_by_hand():
    # rows: (image, caption); images A, A, B, B (two captions each), unit embeddings by hand
    image = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    text = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.1]])
    keys_image = ["A", "A", "B", "B"]
    keys_text = ["c0", "c1", "c2", "c3"]
    present = np.ones((4, 2), dtype=bool)
    t2i, gallery = retrieval_direction(text, keys_text, image, keys_image, present)
    assert gallery == 2  # two distinct images, not four rows
    # c0 -> A first (rank 1); c1 is closer to B (rank 2); c2 -> B (1); c3 closer to A (2)
    assert t2i["first_rank"].tolist() == [1, 2, 1, 2]
    i2t, gallery = retrieval_direction(image, keys_image, text, keys_text, present[:, ::-1])
    assert gallery == 4
    assert len(i2t) == 2
    assert i2t["n_relevant"].tolist() == [2, 2]
    # A's captions c0, c1: c0 is A's nearest caption (rank 1); B's captions c2, c3: c1 and c2
    # tie at the top, the stable order puts c1 first, so B's first relevant is rank 2
    assert i2t["first_rank"].tolist() == [1, 2]
    metrics, intervals = summarize_direction(i2t, gallery, resamples=200)
    assert metrics["R@1"] == 0.5
    assert metrics["mrr"] == pytest.approx(0.75)
    assert metrics["chance_R@1"] == pytest.approx(0.5)  # 2 relevant of 4
    assert intervals["R@1"]["low"] <= 0.5 <= intervals["R@1"]["high"]


def test_absent_side_is_not_a_relevance_pair():
    emb = np.eye(3)
    present = np.array([[True, True], [True, False], [True, True]])
    table, gallery = retrieval_direction(emb, ["a", "b", "c"], emb, ["x", "y", "z"], present)
    assert gallery == 2
    assert len(table) == 2
