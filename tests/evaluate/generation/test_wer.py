"""Word error rate against hand-counted alignments, and the normalisation of recogniser text."""

from __future__ import annotations

import pytest

from polymodal.evaluate.generation.wer import normalize_words, word_error_rate, word_errors


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [
        ("a b c", "a b c", 0),
        ("a b c", "a x c", 1),  # one substitution
        ("a b c", "a c", 1),  # one deletion
        ("a b c", "a b c d", 1),  # one insertion
        ("a b c d", "b c d a", 2),  # delete the first a, insert one at the end
        ("", "a b", 2),  # only insertions
        ("a b", "", 2),  # only deletions
        ("set white in z three now", "set weight in z three no", 2),
    ],
)
def test_word_errors_match_hand_counts(reference: str, hypothesis: str, errors: int) -> None:
    assert word_errors(reference, hypothesis) == errors


def test_corpus_wer_sums_errors_over_reference_words() -> None:
    references = ["bin blue at f two now", "lay red with p nine again"]  # 12 reference words
    hypotheses = ["bin blue f two now please", "lay red with p nine again"]
    # sentence 1: "at" deleted, "please" inserted = 2 errors; sentence 2: none
    assert word_error_rate(references, hypotheses) == pytest.approx(2 / 12)
    # a corpus rate, not the mean of sentence rates (0 and 2/2 would average to 1/2)
    assert word_error_rate(["a b c d", "e f"], ["a b c d", "x"]) == pytest.approx(2 / 6)


def test_normalisation_turns_whisper_formatting_into_words() -> None:
    assert normalize_words("Been read by K7 now.") == ["been", "read", "by", "k", "seven", "now"]
    assert normalize_words("Place white in J3, please.") == [
        "place", "white", "in", "j", "three", "please",
    ]  # fmt: skip
    assert normalize_words("it's 20") == ["it's", "two", "zero"]
    hand = 2 / 6  # "been" for "bin", "read" for "red"
    assert word_error_rate(
        ["bin red by k seven now"], ["Been read by K7 now."], normalize=True
    ) == pytest.approx(hand)
    # raw words: bin/Been, red/read, k/K7, now/now. substituted, seven deleted: 5 of 6
    assert word_error_rate(["bin red by k seven now"], ["Been read by K7 now."]) == pytest.approx(
        5 / 6
    )


def test_wer_refuses_mismatched_or_empty_references() -> None:
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no word"):
        word_error_rate([""], ["a"])
