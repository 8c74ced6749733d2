"""ROUGE as rouge-score computes it, and exact match / token F1 of short answers (SQuAD).

ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum are rouge-score 0.1.2's F-measures with the Porter
stemmer on (its tokenizer: lowercase, non-alphanumerics to spaces, stemming words longer than 3
characters); with several references, the best F-measure of each type (``score_multi``). A
corpus score is the mean of the sentence F-measures (0-1), the quantity rouge-score's
``BootstrapAggregator`` resamples.

Exact match and token F1 follow the SQuAD v2.0 evaluation script: answers normalised by
lowercasing, removing ASCII punctuation, removing the articles a/an/the and collapsing
whitespace ("squad" normalisation); the best over the references; F1 of two token lists of which
one is empty is 1 if both are empty, else 0. Corpus scores are means, in 0-100 as the script
reports them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np

from polymodal.evaluate.generation._deps import require

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
NORMALISATION = "squad"
"""Name of the short-answer normalisation (SQuAD v2.0 ``normalize_answer``)."""

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def rouge_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
    """float64 ``[N, 4]``: sentence F-measures of ROUGE-1, -2, -L, -Lsum (stemmer on)."""
    scorer_module = require("rouge_score.rouge_scorer")
    scorer = scorer_module.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    out = np.zeros((len(hypotheses), len(ROUGE_TYPES)))
    for i, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
        scores = scorer.score_multi(list(refs), hyp)
        out[i] = [scores[t].fmeasure for t in ROUGE_TYPES]
    return out


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lowercase, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def answer_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
    """float64 ``[N, 2]``: exact match (0/1) and token F1 (0-1), best over the references."""
    out = np.zeros((len(hypotheses), 2))
    for i, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
        norm = normalize_answer(hyp)
        out[i, 0] = float(any(norm == normalize_answer(r) for r in refs))
        out[i, 1] = max(_token_f1(hyp, r) for r in refs)
    return out
