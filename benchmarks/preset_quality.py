"""Diagnostic: per-epoch validation and test accuracy of model sections on degraded digits-av.

The issue-13 recipe (scikit-learn digits with Gaussian noise of std 0.5, no occlusion; spoken
digits with white noise at 0 dB SNR, 1 s at 8 kHz, 64 log-mel bins; batch 64, Adam 1e-3). Each
model is built by polymodal's builder and trained with its own loss (unimodal losses included)
in a plain loop, so one run gives the test accuracy after the last epoch *and* at the best
validation epoch, with the seconds per training epoch. The data bundle is built once per seed
and shared by every model. Used for the experiments of ``docs/experiments/preset-quality.md``;
the confirmation runs go through ``polymodal bench configs/bench-digits-degraded.yaml``.

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/preset_quality.py --epochs 10 --seeds 0 \\
        --model tfn='{"preset": "tfn"}' --model audio='{"preset": "audio-only"}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from polymodal.config import parse_config
from polymodal.data.loading import build_data, make_dataloader
from polymodal.models.builder import build_model

DEFAULT_FSDD = Path(__file__).resolve().parents[1].parent / "shared/data/fsdd/recordings"
DEGRADED = {
    "name": "digits-av",
    "image_noise": 0.5,
    "image_occlusion": 0,
    "audio_snr_db": 0.0,
    "sample_rate": 8000,
    "max_seconds": 1.0,
    "n_mels": 64,
}


@torch.no_grad()
def accuracy(model: Any, loader: Any) -> float:
    model.eval()
    right = total = 0
    for batch in loader:
        prediction = model.predict(model(batch)).prediction
        right += int((prediction == batch.target).sum())
        total += len(batch)
    return right / total


def run_one(section: dict[str, Any], bundle: Any, seed: int, args: Any) -> dict[str, Any]:
    """Train one model section; ``"per_head_loss": true`` in the section (removed before
    parsing) drops the separate unimodal heads of a late-fusion model."""
    section = dict(section)
    per_head = bool(section.pop("per_head_loss", False))
    config = parse_config(
        {
            "seed": seed,
            "data": {**DEGRADED, "fsdd_dir": args.fsdd},
            "model": section,
            "train": {"max_epochs": args.epochs, "lr": args.lr, "optimizer": "adam"},
        }
    )
    torch.manual_seed(seed)
    model = build_model(config.model, bundle.info)
    if per_head:  # late fusion: the unimodal losses train its own per-modality heads
        model.unimodal_heads = None
    specs = {m: bundle.info.modalities[m] for m in model.encoders}
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # --cosine: the learning rate decays to 0 over the epochs (per epoch), else constant
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    val = make_dataloader(bundle.splits["val"], specs, batch_size=256)
    test = make_dataloader(bundle.splits["test"], specs, batch_size=256)
    history = []
    for epoch in range(args.epochs):
        train = make_dataloader(
            bundle.splits["train"], specs, batch_size=64, shuffle=True, seed=seed * 1000 + epoch
        )
        model.train()
        start = time.perf_counter()
        for batch in train:
            loss = model.loss(model(batch), batch.target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        if args.cosine:
            schedule.step()
        history.append((accuracy(model, val), accuracy(model, test), seconds))
    best = max(range(len(history)), key=lambda i: (history[i][0], i))
    return {
        "last": history[-1][1],
        "best_val": history[best][1],
        # the validation accuracy of the last three epochs: what a screen may choose on
        "val_last3": statistics.mean(h[0] for h in history[-3:]),
        "test_last3": statistics.mean(h[1] for h in history[-3:]),
        "best_epoch": best,
        "epoch_s": statistics.median(h[2] for h in history),
        "params": sum(p.numel() for p in model.parameters()),
        "curve": [round(h[1], 3) for h in history],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=JSON section")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cosine", action="store_true", help="cosine decay of the lr to 0")
    parser.add_argument("--fsdd", default=os.environ.get("POLYMODAL_FSDD_DIR", str(DEFAULT_FSDD)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = dict(item.split("=", 1) for item in args.model)
    results: dict[str, list[dict[str, Any]]] = {}
    for seed in args.seeds:
        probe = parse_config(
            {"seed": seed, "data": {**DEGRADED, "fsdd_dir": args.fsdd}, "model": "early"}
        )
        bundle = build_data(probe.data, seed=seed)
        for name, text in models.items():
            result = run_one(json.loads(text), bundle, seed, args)
            results.setdefault(name, []).append(result)
            print(name, seed, json.dumps(result), flush=True)
    print("| model | params | val, last 3 | last epoch | test, last 3 | best-val epoch | s/epoch |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():

        def cell(key: str, rows: list[dict[str, Any]] = rows) -> str:
            values = [100 * r[key] for r in rows]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.1f} ± {spread:.1f}"

        seconds = statistics.median(r["epoch_s"] for r in rows)
        figures = (
            f"{cell('val_last3')} | {cell('last')} | {cell('test_last3')} | {cell('best_val')} "
            f"| {seconds:.2f}"
        )
        print(f"| {name} | {rows[0]['params']} | {figures} |")


if __name__ == "__main__":
    main()
