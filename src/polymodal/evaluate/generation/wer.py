"""Word error rate: the word-level edit distance of a hypothesis to its reference, per word.

``WER = (S + D + I) / N`` over a corpus: substitutions, deletions and insertions of a minimum
edit alignment of each hypothesis to its reference (Levenshtein distance over words, each
operation costing 1), summed over the corpus, divided by the number of reference words ``N``
(so WER can exceed 1 when a hypothesis is much longer than its reference). Sentences are
compared after :func:`normalize_words` when ``normalize`` is on: lower case, punctuation removed,
letters and digits split apart and single digits spelt (``K7`` -> ``k seven``), so the
formatting choices of a recogniser (Whisper writes ``F2.``) do not count as errors against
transcripts written in words (GRID: ``f two``).

Example:
    >>> word_errors("the cat sat", "the bat sat down")   # one substitution, one insertion
    2
    >>> word_error_rate(["the cat sat"], ["the bat sat down"])
    0.6666666666666666
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_PUNCTUATION = re.compile(r"[^\w\s']|_")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


def normalize_words(text: str) -> list[str]:
    """Lower-cased words without punctuation; letters and digits apart, each digit spelt.

    >>> normalize_words("Bin blue at F2, now.")
    ['bin', 'blue', 'at', 'f', 'two', 'now']
    """
    text = _PUNCTUATION.sub(" ", text.lower())
    text = _LETTER_DIGIT.sub(" ", text)
    words: list[str] = []
    for word in text.split():
        if word.isdigit():
            words.extend(DIGITS[int(d)] for d in word)
        else:
            words.append(word)
    return words


def word_errors(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> int:
    """The minimum number of word substitutions, deletions and insertions turning
    ``reference`` into ``hypothesis`` (strings are split on whitespace; no normalisation).

    Dynamic programming over one row: ``d[j]`` = edits between the first ``i`` reference words
    and the first ``j`` hypothesis words.
    """
    ref = reference.split() if isinstance(reference, str) else list(reference)
    hyp = hypothesis.split() if isinstance(hypothesis, str) else list(hypothesis)
    row = list(range(len(hyp) + 1))  # d[0][j] = j insertions
    for i, r in enumerate(ref, start=1):
        diagonal, row[0] = row[0], i  # d[i][0] = i deletions
        for j, h in enumerate(hyp, start=1):
            cost = diagonal + (r != h)  # match or substitution
            diagonal = row[j]
            row[j] = min(cost, row[j] + 1, row[j - 1] + 1)  # ..., deletion, insertion
    return row[-1]


def word_error_rate(
    references: Sequence[str], hypotheses: Sequence[str], *, normalize: bool = False
) -> float:
    """Corpus WER: total word errors / total reference words (see the module docs).

    Raises:
        ValueError: the two lists differ in length, or the references hold no word.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    split = normalize_words if normalize else str.split
    pairs = [(split(r), split(h)) for r, h in zip(references, hypotheses, strict=True)]
    words = sum(len(r) for r, _ in pairs)
    if words == 0:
        raise ValueError("the references hold no word: WER is undefined")
    return sum(word_errors(r, h) for r, h in pairs) / words
