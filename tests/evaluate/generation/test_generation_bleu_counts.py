"""The vectorised BLEU statistics equal sacrebleu's sentence statistics, row by row: batched 13a
tokenisation, n-gram clipping over several references, and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sacrebleu")
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from polymodal.evaluate.generation import bleu_counts, sacre

ODD = [
    "", "   ", ".", ",.,", "a.\n-b c-\nd", "&quot;Hi&quot; &amp; &lt;b&gt;", "3-4 x-y 5.5 5,5,x",
    "<skipped> ok", "end.", ".start", "tab\there", "a\x1cb", "(x)[y]{z}", "1.", "x,1", "é. ü,",
    "--", "a - b", "$5.00!", "'quoted'", "\n", "a\nb",
]  # fmt: skip


def _expected(hyps, refs, tokenize="13a") -> np.ndarray:
    streams = [list(s) for s in zip(*refs, strict=True)]
    return np.array(BLEU(tokenize=tokenize)._extract_corpus_statistics(hyps, streams))


def test_batched_13a_equals_the_line_tokenizer(tatoeba, flickr) -> None:
    lines = [*tatoeba["en"], *(r for refs in flickr["refs"] for r in refs), *ODD]
    tokenizer = Tokenizer13a()
    assert bleu_counts.tokenize_13a(lines) == [tokenizer(line).split() for line in lines]
    with_nul = ["a\x00b.", "c,d"]  # the separator inside a line: tokenised line by line
    assert bleu_counts.tokenize_13a(with_nul) == [tokenizer(line).split() for line in with_nul]


def test_rows_equal_sacrebleu_with_five_and_variable_references(flickr, tatoeba_groups) -> None:
    hyps, refs = flickr["hyps"], flickr["refs"]
    np.testing.assert_array_equal(sacre.bleu_statistics(hyps, refs), _expected(hyps, refs))
    _sources, groups = tatoeba_groups  # 1 to many references; a Chinese tokenizer
    hyps = [g[-1] for g in groups]
    refs = [g[:-1] or g for g in groups]
    ours = sacre.bleu_statistics(hyps, refs, tokenize="zh")
    for i in range(0, len(hyps), 97):  # sacrebleu needs equal counts: compare row by row
        expected = _expected([hyps[i]], [refs[i]], "zh")
        np.testing.assert_array_equal(ours[i : i + 1], expected)


def test_short_texts_repeated_ngrams_and_odd_characters() -> None:
    hyps = ["the the the the", "", "a", *ODD, "x y", "a b c d e"]
    refs = [["the cat the", "the the"], ["a b"], ["b"], *[[o, "x"] for o in ODD], [""], ["a b c"]]
    np.testing.assert_array_equal(sacre.bleu_statistics(hyps, refs), _expected_rows(hyps, refs))
    # "the the the the": clipped by the largest reference count (2), totals 4, 3, 2, 1
    assert sacre.bleu_statistics(hyps[:1], refs[:1])[0].tolist() == [4, 3, 2, 1, 0, 0, 4, 3, 2, 1]


def _expected_rows(hyps, refs) -> np.ndarray:
    return np.vstack([_expected([h], [r]) for h, r in zip(hyps, refs, strict=True)])


def test_a_large_vocabulary_renumbers_ngram_codes() -> None:
    """(V + 1)^4 >= 2^62 needs dense codes before order 4: the counts stay exact."""
    filler = " ".join(f"w{i}" for i in range(50_000))
    hyps = ["w1 w2 w3 w4 w5", "w9 w8 w1 w2 w3", filler[:200]]
    refs = [["w1 w2 w3 w4 w9"], ["w1 w2 w3 w8"], [filler]]
    np.testing.assert_array_equal(sacre.bleu_statistics(hyps, refs), _expected_rows(hyps, refs))
