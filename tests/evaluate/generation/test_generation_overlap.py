"""ROUGE equals rouge-score (stemmer on); exact match and token F1 follow SQuAD by hand."""

from __future__ import annotations

import numpy as np
import pytest

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

from polymodal.evaluate.generation import overlap  # noqa: E402
from polymodal.evaluate.generation.corpus import GenerationInputs, generation_metric  # noqa: E402


def test_rouge_equals_rouge_score_with_stemmer(flickr) -> None:
    hyps, refs = flickr["hyps"][:120], flickr["refs"][:120]
    ours = overlap.rouge_statistics(hyps, refs)
    scorer = rouge_scorer.RougeScorer(list(overlap.ROUGE_TYPES), use_stemmer=True)
    expected = np.array(
        [[s[t].fmeasure for t in overlap.ROUGE_TYPES] for s in
         (scorer.score_multi(r, h) for h, r in zip(hyps, refs, strict=True))]
    )  # fmt: skip
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    inputs = GenerationInputs({"rouge": ours}, len(hyps))
    for k, name in enumerate(overlap.ROUGE_TYPES):
        value = generation_metric(name).compute(inputs)
        assert value == pytest.approx(expected[:, k].mean(), abs=1e-9)
    assert ours[3].tolist() == [0.0] * 4  # the empty hypothesis is scored, as zero
    stemmed = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    assert stemmed.score("dogs running", "dog runs")["rouge1"].fmeasure == 1.0  # stemmer is on
    assert overlap.rouge_statistics(["dog runs"], [["dogs running"]])[0, 0] == 1.0


def test_exact_match_and_token_f1_by_hand() -> None:
    hyps = ["The Eiffel Tower!", "in  Paris", "", "a blue car", "nothing"]
    refs = [["eiffel tower"], ["Paris, France", "in Paris."], [""], ["the red car"], ["x"]]
    stats = overlap.answer_statistics(hyps, refs)
    # 4: tokens {blue, car} vs {red, car}: p = r = 1/2 -> F1 1/2; 3: both empty -> 1
    assert stats[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert stats[:, 1].tolist() == [1.0, 1.0, 1.0, 0.5, 0.0]
    inputs = GenerationInputs({"answers": stats}, len(hyps))
    assert generation_metric("exact_match").compute(inputs) == pytest.approx(60.0)
    assert generation_metric("token_f1").compute(inputs) == pytest.approx(70.0)
    assert overlap.normalize_answer("An  apple, the PEAR.") == "apple pear"
