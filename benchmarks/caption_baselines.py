"""Captioning baselines on Flickr8k-1k: the floor a captioning model must clear.

Photos are split by photo (never a photo's captions apart), seeded: ``random_group_split`` with
10 % validation and 10 % test photos (seed 0: 800 / 100 / 100). On the test photos, with their
five captions as references:

- ``nearest_neighbour``: the consensus caption of the training photo with the most similar
  EfficientNet-Lite0 pooled features (ImageNet weights, 224 x 224, 1280-d; cosine), as
  :func:`polymodal.evaluate.generation.baselines.nearest_neighbour_captions`;
- ``constant``: the best constant caption, by CIDEr-D over the training photos' references
  (:func:`~polymodal.evaluate.generation.baselines.best_constant_caption`);
- ``human`` (for scale, not a baseline): each photo's first caption against its other four
  (four references, where the rows above have five: not the same test).

Each is written as a predictions file (``OUT/<name>.jsonl``) and evaluated as ``polymodal
evaluate FILE --task generation --metrics cider_d,bleu,meteor,rougeL`` does (PTB tokenisation
and METEOR run Java), printing each score with its 95 % bootstrap interval over photos. BLEU is
sacrebleu's BLEU-4 (13a tokens), not pycocoevalcap's.

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/caption_baselines.py --out /tmp/caption-baselines
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from polymodal.data.splits import random_group_split
from polymodal.evaluate.generation import evaluate_generation
from polymodal.evaluate.generation.baselines import (
    best_constant_caption,
    nearest_neighbour_captions,
    write_predictions,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flickr8k-1k"
METRICS = ("cider_d", "bleu", "meteor", "rougeL")


def read_captions(folder: Path) -> dict[str, list[str]]:
    """photo file name -> its captions, in file order."""
    groups: dict[str, list[str]] = defaultdict(list)
    with (folder / "captions.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            groups[row["image"]].append(row["caption"])
    return dict(groups)


def lite0_features(paths: list[Path], batch_size: int = 32) -> np.ndarray:
    """float32 ``[N, 1280]``: EfficientNet-Lite0 (ImageNet) pooled features of each photo."""
    import torch
    from PIL import Image

    from polymodal.data.transforms.pretrained import image_preset
    from polymodal.encoders.efficientnet_lite import EfficientNetLite0, load_lite0_weights

    network = EfficientNetLite0()
    load_lite0_weights(network)
    network.eval()
    preprocess = image_preset("efficientnet_lite")
    out = []
    with torch.no_grad():
        for start in range(0, len(paths), batch_size):
            images = [
                preprocess(Image.open(p).convert("RGB")) for p in paths[start : start + batch_size]
            ]
            fmap = network.forward_features(torch.stack(images))  # [B, 1280, 7, 7]
            out.append(fmap.mean(dim=(2, 3)).numpy())
    return np.concatenate(out)


def features_for(photos: list[str], cache: Path | None) -> np.ndarray:
    """Features of ``photos`` (read from / written to ``cache`` when given)."""
    if cache is not None and cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if list(stored["photos"]) == photos:
            return stored["features"]
    features = lite0_features([DATA / "images" / p for p in photos])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, photos=np.array(photos), features=features)
    return features


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("caption-baselines"))
    parser.add_argument("--features", type=Path, default=None, help="cache of the features (.npz)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    if not (DATA / "captions.csv").is_file():
        print(f"no {DATA}: nothing to measure")
        return 0
    captions = read_captions(DATA)
    photos = sorted(captions)
    split = dict(zip(photos, random_group_split(photos, 0.1, 0.1, args.seed), strict=True))
    train = [p for p in photos if split[p] == "train"]
    test = [p for p in photos if split[p] == "test"]
    start = time.perf_counter()
    features = dict(zip(photos, features_for(photos, args.features), strict=True))
    seconds = time.perf_counter() - start
    print(f"{len(train)} train / {len(test)} test photos; features {seconds:.0f} s")
    train_caps = [captions[p] for p in train]
    nn = nearest_neighbour_captions(
        np.stack([features[p] for p in test]), np.stack([features[p] for p in train]), train_caps
    )
    constant = best_constant_caption(
        train_caps, candidates=args.candidates, photos=None, seed=args.seed
    )
    print(f"best constant caption (CIDEr-D {constant.score:.4f} on {constant.photos} training "
          f"photos, {len(constant.scores)} candidates): {constant.caption!r}")  # fmt: skip
    refs = [captions[p] for p in test]
    rows = {
        "nearest_neighbour": (nn, refs),
        "constant": ([constant.caption] * len(test), refs),
        "human": ([r[0] for r in refs], [r[1:] for r in refs]),
    }
    files = {
        name: write_predictions(args.out / f"{name}.jsonl", test, hyps, references)
        for name, (hyps, references) in rows.items()
    }
    print(f"{'':<18}" + "".join(f"{m:>24}" for m in METRICS))
    for name, path in files.items():
        payload = evaluate_generation(
            path, args.out / name, metrics=list(METRICS), resamples=args.bootstrap, seed=args.seed
        )
        cells = []
        for metric in METRICS:
            value, ci = payload["metrics"][metric], payload["intervals"][metric]
            cells.append(f"{value:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]")
        print(f"{name:<18}" + "".join(f"{c:>24}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
