"""CIDEr-D and METEOR equal pycocoevalcap on Flickr8k captions; no Java, no number."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("pycocoevalcap")
from pycocoevalcap.cider.cider import Cider

from polymodal.errors import PolymodalError
from polymodal.evaluate.generation import caption
from polymodal.evaluate.generation.table import _caption_texts

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime")


@pytest.fixture(scope="module")
def tokenized(flickr):
    if shutil.which("java") is None:
        pytest.skip("no Java runtime")
    return _caption_texts(flickr["hyps"], flickr["refs"], "ptb")


@needs_java
def test_ptb_tokenisation_as_pycocoevalcap() -> None:
    out = caption.ptb_tokenize(["A dog's ball, (red) -- isn't it?", "", "Two  men."])
    # -lowerCase turns -LRB- into -lrb-, which pycocoevalcap's punctuation list then keeps
    assert out == ["a dog 's ball -lrb- red -rrb- is n't it", "", "two men"]


@needs_java
def test_cider_d_equals_pycocoevalcap(tokenized) -> None:
    hyps, refs = tokenized
    ours = caption.cider_d_statistics(hyps, refs)
    gts = {i: refs[i] for i in range(len(hyps))}
    score, scores = Cider().compute_score(gts, {i: [h] for i, h in enumerate(hyps)})
    np.testing.assert_allclose(ours, scores, rtol=0, atol=1e-9)
    assert ours.mean() == pytest.approx(score, abs=1e-9)
    assert ours[3] == 0.0  # the empty hypothesis: scored, zero
    assert 0.2 < score < 5  # half the hypotheses are right, half another photo's caption


def test_cider_d_edge_cases_equal_pycocoevalcap() -> None:
    """Short, empty and repeated texts; n-grams never run across two texts."""
    hyps = ["a", "", "b c d e f", "x y", "a a a a a", "y z w"]
    refs = [["a b"], ["c"], ["b c d e f", "f e d c b"], ["z w"], ["a a"], ["x y", "y z w"]]
    ours = caption.cider_d_statistics(hyps, refs)
    gts = {i: r for i, r in enumerate(refs)}
    _, scores = Cider().compute_score(gts, {i: [h] for i, h in enumerate(hyps)})
    np.testing.assert_allclose(ours, scores, rtol=0, atol=1e-12)
    assert ours[1] == 0.0
    assert caption.cider_d_statistics(["", ""], [[""], [""]]).tolist() == [0.0, 0.0]


@needs_java
@pytest.mark.slow
def test_meteor_equals_pycocoevalcap(tokenized) -> None:
    from pycocoevalcap.meteor.meteor import Meteor

    hyps, refs = tokenized[0][:80], tokenized[1][:80]
    with caption.MeteorSession() as session:  # one Java start for statistics and resamples
        stats = session.statistics(hyps, refs)
        corpus, sentences = session.evaluate(stats)
        doubled, _ = session.evaluate([stats[i] for i in np.r_[0:40, 0:40]])
        half, _ = session.evaluate(stats[:40])
    meteor = Meteor()
    gts = {i: refs[i] for i in range(len(hyps))}
    score, scores = meteor.compute_score(gts, {i: [h] for i, h in enumerate(hyps)})
    del meteor
    assert corpus == pytest.approx(score, abs=1e-9)
    np.testing.assert_allclose(sentences, scores, rtol=0, atol=1e-9)
    assert doubled == pytest.approx(half, abs=1e-12)  # METEOR of summed statistics
    assert half != pytest.approx(corpus, abs=1e-6)  # a subset has its own score


def test_without_java_a_clear_error_never_a_number(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(PolymodalError, match="METEOR runs Java"):
        caption.meteor_statistics(["a dog"], [["a dog runs"]])
    with pytest.raises(PolymodalError, match="PTB tokenisation"):
        caption.ptb_tokenize(["a dog"])
