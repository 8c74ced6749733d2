"""Translation baselines on Tatoeba: the floor a translation model must clear.

The split of ``configs/translation-*.yaml`` (the ``translation`` dataset: ``limit`` pairs drawn
at random, split by source sentence, seed 0, 10 % / 10 %); on the test source sentences, with
every translation as a reference, each baseline is a predictions file evaluated as ``polymodal
evaluate FILE --task generation --metrics bleu,chrf`` does (BLEU ``13a``, or ``zh`` when the
references are Chinese; 95 % bootstrap intervals over sentences):

- ``nearest_neighbour``: the first translation of the training source sentence most similar to
  the test one (cosine of TF-IDF character 1-3-gram vectors; ties: the earlier one), i.e.
  translation memory retrieval: what a model scores by recalling a training sentence;
- ``constant``: the best constant sentence by the primary metric over a seeded sample of 1,000
  training samples' references
  (:func:`~polymodal.evaluate.generation.baselines.best_constant_caption`);
- ``draft`` (with ``--drop-rate``, zh -> en): the degraded English draft of the ``draft``
  configs, unchanged, as the output (what the draft alone already scores).

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/translation_baselines.py --out /tmp/zh-en-baselines
    PYTHONPATH=src .venv/bin/python benchmarks/translation_baselines.py --direction en-zh ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from polymodal.data.builtin.translation import degrade, group_by_source
from polymodal.data.builtin.translation_pairs import distinct, read_pairs, split_by_left, take
from polymodal.evaluate.generation import evaluate_generation
from polymodal.evaluate.generation.baselines import (
    best_constant_caption,
    write_predictions,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tatoeba-cmn-eng"
METRICS = ("bleu", "chrf")
COLUMNS = {"zh-en": (1, 0), "en-zh": (0, 1)}


def most_similar(train: list[str], test: list[str]) -> np.ndarray:
    """int ``[Q]``: for each test sentence, the training sentence with the most similar TF-IDF
    character 1-3-gram vector (cosine, fitted on train; ties: the earlier one)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    gallery = vectorizer.fit_transform(train)  # rows L2-normalised: dot = cosine
    similarity = (vectorizer.transform(test) @ gallery.T).toarray()  # [Q, N]
    return similarity.argmax(axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("translation-baselines"))
    parser.add_argument("--direction", choices=sorted(COLUMNS), default="zh-en")
    parser.add_argument("--limit", type=int, default=12000)
    parser.add_argument("--drop-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument(
        "--photos", type=int, default=1000, help="training samples scoring the constant"
    )
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    path = DATA / "cmn-eng.tsv"
    if not path.is_file():
        print(f"no {path}: nothing to measure")
        return 0
    pairs = distinct(read_pairs(path, COLUMNS[args.direction], delimiter="\t", header=False))
    splits = split_by_left(take(pairs, args.limit, args.seed), 0.1, 0.1, args.seed)
    train, test = group_by_source(splits["train"]), group_by_source(splits["test"])
    ids = [f"p{p.line}" for p, _ in test]
    refs = [list(r) for _, r in test]
    nearest = most_similar([p.left for p, _ in train], [p.left for p, _ in test])
    primary = METRICS[0]
    constant = best_constant_caption(
        [list(r) for _, r in train], metric=primary, candidates=args.candidates, photos=args.photos,
        seed=args.seed,
    )  # fmt: skip
    print(f"{len(train)} train / {len(test)} test source sentences; best constant sentence "
          f"({primary}): {constant.caption!r}")  # fmt: skip
    rows = {
        "nearest_neighbour": [train[i][1][0] for i in nearest],
        "constant": [constant.caption] * len(test),
    }
    if args.drop_rate is not None:
        rows["draft"] = [
            degrade(r[0], args.drop_rate, np.random.default_rng((args.seed, 3, p.line)))
            for p, r in test
        ]
    print(f"{'':<18}" + "".join(f"{m:>24}" for m in METRICS))
    for name, hyps in rows.items():
        file = write_predictions(args.out / f"{name}.jsonl", ids, hyps, refs)
        payload = evaluate_generation(
            file, args.out / name, metrics=list(METRICS), resamples=args.bootstrap, seed=args.seed
        )
        cells = []
        for metric in METRICS:
            value, ci = payload["metrics"][metric], payload["intervals"][metric]
            cells.append(f"{value:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]")
        print(f"{name:<18}" + "".join(f"{c:>24}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
