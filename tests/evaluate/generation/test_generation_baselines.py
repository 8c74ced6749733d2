"""Captioning baselines: nearest neighbour by hand, consensus and the constant caption against
sacrebleu / our CIDEr-D on real Flickr8k-1k captions, and the predictions file they write."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

sacrebleu = pytest.importorskip("sacrebleu")

from polymodal.errors import DataError  # noqa: E402
from polymodal.evaluate.generation import baselines, caption, read_generation_file  # noqa: E402

CAPTIONS = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "flickr8k-1k" / "captions.csv"
)


@pytest.fixture(scope="module")
def photos() -> list[list[str]]:
    """The five captions of the first 60 Flickr8k-1k photos (sorted by file name)."""
    if not CAPTIONS.is_file():
        pytest.skip(f"no {CAPTIONS} (real Flickr8k-1k captions)")
    groups: dict[str, list[str]] = defaultdict(list)
    with CAPTIONS.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            groups[row["image"]].append(row["caption"])
    return [groups[k] for k in sorted(groups)[:60]]


def test_nearest_neighbours_by_hand() -> None:
    gallery = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 0.0]])
    query = np.array([[2.0, 0.1], [0.0, 1.0], [1.0, 1.2]])
    # cosine: q0 is closest to rows 0 and 3 (equal, the earlier first), q1 to row 1, q2 to row 2
    np.testing.assert_array_equal(
        baselines.nearest_neighbours(query, gallery, k=2)[:, 0], [0, 1, 2]
    )
    assert baselines.nearest_neighbours(query[:1], gallery, k=2).tolist() == [[0, 3]]
    with pytest.raises(DataError, match="do not match"):
        baselines.nearest_neighbours(query, gallery[:, :1])


def test_consensus_equals_sacrebleu_against_the_other_captions(photos) -> None:
    chosen = baselines.consensus_choice(photos[:20])
    for captions, pick in zip(photos[:20], chosen, strict=True):
        scores = [
            sacrebleu.corpus_bleu([c], [[o] for j, o in enumerate(captions) if j != i]).score
            for i, c in enumerate(captions)
        ]
        assert pick == int(np.argmax(scores))
    assert baselines.consensus_choice([["only one"]]) == [0]


def test_nearest_neighbour_captions_come_from_the_most_similar_photo(photos) -> None:
    train = photos[:40]
    features = np.random.default_rng(0).normal(size=(40, 16))
    query = features[[7, 3, 39]] + 0.01  # near training photos 7, 3 and 39
    out = baselines.nearest_neighbour_captions(query, features, train)
    consensus = baselines.consensus_choice([train[7], train[3], train[39]])
    assert out == [train[i][c] for i, c in zip((7, 3, 39), consensus, strict=True)]
    pooled = baselines.nearest_neighbour_captions(query[:1], features, train, k=3)
    assert pooled[0] in {c for i in baselines.nearest_neighbours(query[:1], features, 3)[0]
                         for c in train[i]}  # fmt: skip


def test_best_constant_caption_maximises_corpus_bleu(photos) -> None:
    result = baselines.best_constant_caption(photos, metric="bleu", candidates=12, photos=25)
    assert len(result.scores) == 12
    assert result.photos == 25
    rng = np.random.default_rng(0)  # the same seeded samples, scored by sacrebleu
    distinct = list(dict.fromkeys(c for caps in photos for c in caps))
    pool = [distinct[i] for i in np.sort(rng.choice(len(distinct), 12, replace=False))]
    refs = [photos[i] for i in np.sort(rng.choice(len(photos), 25, replace=False))]
    streams = [list(s) for s in zip(*refs, strict=True)]
    expected = {c: sacrebleu.corpus_bleu([c] * 25, streams).score for c in pool}
    assert dict(result.scores) == pytest.approx(expected, abs=1e-9)
    assert result.caption == max(pool, key=lambda c: expected[c])
    assert result.score == max(expected.values())


def test_best_constant_caption_by_cider_d_with_the_sets_own_idf(photos) -> None:
    result = baselines.best_constant_caption(
        photos, metric="cider_d", candidates=6, photos=20, caption_tokenize="none"
    )
    rng = np.random.default_rng(0)
    distinct = list(dict.fromkeys(c for caps in photos for c in caps))
    pool = [distinct[i] for i in np.sort(rng.choice(len(distinct), 6, replace=False))]
    refs = [photos[i] for i in np.sort(rng.choice(len(photos), 20, replace=False))]
    for text, score in result.scores:
        assert text in pool
        assert score == pytest.approx(
            caption.cider_d_statistics([text] * 20, refs).mean(), abs=1e-12
        )
    assert [s for _, s in result.scores] == sorted((s for _, s in result.scores), reverse=True)


def test_predictions_file_round_trip(tmp_path) -> None:
    path = baselines.write_predictions(
        tmp_path / "nn.jsonl", ["a", "b"], ["a dog runs", ""], [["a dog"], ["x", "café y"]]
    )
    table = read_generation_file(path)
    assert table["id"].tolist() == ["a", "b"]
    assert table["hypothesis"].tolist() == ["a dog runs", ""]
    assert [list(r) for r in table["references"]] == [["a dog"], ["x", "café y"]]
    with pytest.raises(DataError, match="one of each"):
        baselines.write_predictions(tmp_path / "x.jsonl", ["a"], [], [])
