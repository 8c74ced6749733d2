"""Captioning baselines that tell whether a model learned anything, in the predictions format.

- **Nearest neighbour** (Devlin et al. 2015, "Exploring Nearest Neighbor Approaches for Image
  Captioning"): a test photo gets a caption of the training photo whose feature vector is the
  most similar (cosine; ties: the earlier training photo). Any features will do (EfficientNet-Lite0
  pooled features, CLIP, ...): this module never makes them. Among that photo's captions the one
  with the highest *consensus* with its other captions is chosen: its sentence BLEU (sacrebleu's
  13a tokens, ``exp`` smoothing, the other captions as references; ties: the first). With
  ``k > 1`` the captions of the k nearest photos are pooled and each is scored against the rest
  of the pool, as the paper's consensus re-ranking.
- **Best constant caption**: one caption for every photo, the training caption (from a seeded
  sample of candidates) with the highest corpus score of ``metric`` (CIDEr-D by default) when
  it is the hypothesis of every photo of a seeded sample of training photos, against their
  references. A model below it has learned less than the corpus' most typical sentence.

:func:`write_predictions` writes what ``polymodal evaluate FILE --task generation`` reads
(JSONL: ``id``, ``hypothesis``, ``references``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polymodal.errors import DataError
from polymodal.evaluate.generation import caption, sacre
from polymodal.evaluate.generation.corpus import GenerationInputs, generation_metric
from polymodal.evaluate.generation.table import score_texts
from polymodal.io import write_text_atomic


def nearest_neighbours(query: np.ndarray, gallery: np.ndarray, k: int = 1) -> np.ndarray:
    """int ``[Q, k]``: the ``k`` gallery rows most cosine-similar to each query row, best first.

    Args:
        query: float ``[Q, D]`` features; gallery: float ``[G, D]`` (same D, G >= k).
    """
    query, gallery = np.asarray(query, np.float64), np.asarray(gallery, np.float64)
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise DataError(
            f"features of shapes {query.shape} and {gallery.shape} do not match",
            fix="give [Q, D] query and [G, D] training features of the same width D",
        )
    if not 1 <= k <= len(gallery):
        raise DataError(f"k = {k} with {len(gallery)} training photos", fix="1 <= k <= G")
    q = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
    g = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
    similarity = q @ g.T  # [Q, G]
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def consensus_choice(groups: Sequence[Sequence[str]]) -> list[int]:
    """For each group of captions, the position of the one with the highest sentence BLEU
    against the others of its group (a group of one: 0)."""
    hyps, refs, owner = [], [], []
    for g, captions in enumerate(groups):
        if not captions:
            raise DataError(f"group {g} has no caption", fix="every photo needs a caption")
        for i, text in enumerate(captions):
            others = [c for j, c in enumerate(captions) if j != i]
            hyps.append(text)
            refs.append(others or [text])
            owner.append(g)
    scores = sacre.bleu_from_sums(sacre.bleu_statistics(hyps, refs))  # one row = one sentence
    out, start = [], 0
    for captions in groups:
        out.append(int(np.argmax(scores[start : start + len(captions)])))  # first of the best
        start += len(captions)
    return out


def nearest_neighbour_captions(
    query_features: np.ndarray,
    train_features: np.ndarray,
    train_captions: Sequence[Sequence[str]],
    k: int = 1,
) -> list[str]:
    """The nearest-neighbour caption of each query photo (see the module docstring).

    Args:
        query_features: ``[Q, D]``; train_features: ``[G, D]``, row i the photo whose captions
            are ``train_captions[i]``.
    """
    if len(train_features) != len(train_captions):
        raise DataError(
            f"{len(train_features)} training feature rows but {len(train_captions)} caption lists",
            fix="one caption list per training photo, in the order of the features",
        )
    neighbours = nearest_neighbours(query_features, train_features, k)
    pools = [[c for i in row for c in train_captions[int(i)]] for row in neighbours]
    return [pool[i] for pool, i in zip(pools, consensus_choice(pools), strict=True)]


@dataclass(frozen=True)
class ConstantCaption:
    """The best constant caption and how it was found.

    Attributes:
        caption: the chosen training caption.
        score: its corpus ``metric`` over the sampled training photos.
        metric: the metric name.
        scores: every candidate with its score, best first.
        photos: how many training photos scored each candidate.
    """

    caption: str
    score: float
    metric: str
    scores: tuple[tuple[str, float], ...]
    photos: int


def _sample(n: int, size: int | None, rng: np.random.Generator) -> np.ndarray:
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def best_constant_caption(
    train_captions: Sequence[Sequence[str]],
    *,
    metric: str = "cider_d",
    candidates: int | None = 200,
    photos: int | None = 200,
    seed: int = 0,
    caption_tokenize: str = "ptb",
) -> ConstantCaption:
    """The training caption that scores best as everyone's caption (see the module docstring).

    Args:
        train_captions: each training photo's captions (its references).
        metric: a generation metric name (``cider_d``, ``bleu``, ``meteor``, ...).
        candidates, photos: sizes of the seeded samples of distinct captions and of photos
            (None: all).
        caption_tokenize: tokenisation before CIDEr-D / METEOR (``ptb`` runs Java once).
    """
    scorer = generation_metric(metric)
    rng = np.random.default_rng(seed)
    distinct = list(dict.fromkeys(c for captions in train_captions for c in captions))
    pool = [distinct[i] for i in _sample(len(distinct), candidates, rng)]
    refs = [list(train_captions[i]) for i in _sample(len(train_captions), photos, rng)]
    texts, tok_refs = pool, refs
    if scorer.family in ("cider_d", "meteor") and caption_tokenize == "ptb":  # Java once
        flat = caption.ptb_tokenize([*pool, *(r for rs in refs for r in rs)])
        texts, position, tok_refs = flat[: len(pool)], len(pool), []
        for rs in refs:
            tok_refs.append(flat[position : position + len(rs)])
            position += len(rs)
        caption_tokenize = "none"
    scores = np.empty(len(pool))
    for i, text in enumerate(texts):  # one call each: CIDEr-D's idf is of these photos alone
        stats, options = score_texts(
            [text] * len(tok_refs), tok_refs, [metric], caption_tokenize=caption_tokenize
        )
        scores[i] = scorer.compute(GenerationInputs(stats, len(tok_refs), options))
    order = np.argsort(-scores if scorer.higher_is_better else scores, kind="stable")
    ranked = tuple((pool[i], float(scores[i])) for i in order)
    return ConstantCaption(ranked[0][0], ranked[0][1], metric, ranked, len(refs))


def write_predictions(
    path: str | Path,
    ids: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
) -> Path:
    """Write a generation predictions file (JSONL: id, hypothesis, references), atomically."""
    if not len(ids) == len(hypotheses) == len(references):
        raise DataError(
            f"{len(ids)} ids, {len(hypotheses)} hypotheses, {len(references)} reference lists",
            fix="one of each per sample",
        )
    lines = [
        json.dumps({"id": str(i), "hypothesis": h, "references": list(r)}, ensure_ascii=False)
        for i, h, r in zip(ids, hypotheses, references, strict=True)
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
