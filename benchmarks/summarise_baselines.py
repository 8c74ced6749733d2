"""Summarisation baselines on Flickr8k-1k: what copying an input caption scores.

The task of ``configs/summarise-flickr8k-*.yaml`` (the ``caption-summary`` dataset): each photo's
three input captions (chosen by :func:`~polymodal.data.builtin.caption_summary.choose_inputs`)
in, its other two captions as references; split by photo, seed 0, 800 / 100 / 100. On the test
photos, each baseline is a predictions file evaluated as ``polymodal evaluate FILE --task
generation --metrics cider_d,bleu,meteor,rougeL`` does (95 % bootstrap intervals over photos):

- ``copy_first``: the first input caption, unchanged (what copying scores);
- ``copy_consensus``: the input caption with the highest consensus with the other two (sentence
  BLEU against them, :func:`~polymodal.evaluate.generation.baselines.consensus_choice`): the
  best a model that only picks one of its input captions can be expected to do without the
  references;
- ``constant``: the best constant caption, by CIDEr-D over the training photos' references.

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/summarise_baselines.py --out /tmp/summarise-baselines
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polymodal.data.builtin.caption_summary import caption_summary, summary_rows
from polymodal.data.manifest import read_manifest
from polymodal.evaluate.generation import evaluate_generation
from polymodal.evaluate.generation.baselines import (
    best_constant_caption,
    consensus_choice,
    write_predictions,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flickr8k-1k"
METRICS = ("cider_d", "bleu", "meteor", "rougeL")
SEPARATOR = " | "
TEXT = {"text": {"kind": "text", "column": "captions", "tokenizer": "word", "max_length": 64}}


def split_samples(seed: int) -> dict[str, list[tuple[str, list[str], list[str]]]]:
    """split -> ``(photo, input captions, references)`` of each photo, as the configs build."""
    path = DATA / "captions.csv"
    bundle = caption_summary(seed=seed, path=path, modalities=TEXT, separator=SEPARATOR)
    rows, _ = summary_rows(read_manifest(path)[0], "image", "caption", 3, SEPARATOR, 0, str(path))
    texts = {r["id"]: r for r in rows}
    out = {}
    for split, dataset in bundle.splits.items():
        samples = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
        out[split] = [
            (s.id, texts[s.id]["captions"].split(SEPARATOR), list(s.references)) for s in samples
        ]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("summarise-baselines"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    if not (DATA / "captions.csv").is_file():
        print(f"no {DATA}: nothing to measure")
        return 0
    samples = split_samples(args.seed)
    test = samples["test"]
    ids, given, refs = [t[0] for t in test], [t[1] for t in test], [t[2] for t in test]
    constant = best_constant_caption(
        [t[2] for t in samples["train"]], candidates=args.candidates, photos=None, seed=args.seed
    )
    print(f"{len(samples['train'])} train / {len(test)} test photos; best constant caption: "
          f"{constant.caption!r}")  # fmt: skip
    rows = {
        "copy_first": [g[0] for g in given],
        "copy_consensus": [g[i] for g, i in zip(given, consensus_choice(given), strict=True)],
        "constant": [constant.caption] * len(test),
    }
    print(f"{'':<16}" + "".join(f"{m:>24}" for m in METRICS))
    for name, hyps in rows.items():
        path = write_predictions(args.out / f"{name}.jsonl", ids, hyps, refs)
        payload = evaluate_generation(
            path, args.out / name, metrics=list(METRICS), resamples=args.bootstrap, seed=args.seed
        )
        cells = []
        for metric in METRICS:
            value, ci = payload["metrics"][metric], payload["intervals"][metric]
            cells.append(f"{value:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]")
        print(f"{name:<16}" + "".join(f"{c:>24}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
