"""Diagnostic: how well each encoder learns its own modality inside a fused model (digits-av).

Trains, for each seed, an audio-only and an image-only model and a fusion preset (default
``tfn``) with and without unimodal auxiliary losses (``model.unimodal_loss_weight``), all for
``--epochs`` epochs (best validation loss kept). Then, for every trained encoder, fits a
logistic regression (scikit-learn, the baseline probe) on its pooled features of the training
split and scores it on the test split: the *probe accuracy* says how much of its modality the
encoder learnt. Modality competition (Wang et al. 2020) shows as fused models whose encoders
probe well below the same encoder trained alone; the auxiliary losses should close that gap.

Prints one row per model: test accuracy, and the probe accuracy of its image and audio encoders
(means over seeds). Needs the FSDD recordings (``POLYMODAL_FSDD_DIR`` or ``--fsdd``).

Run::

    .venv/bin/python benchmarks/modality_competition.py [--preset tfn] [--epochs 20] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from polymodal.config import parse_config
from polymodal.data.loading import make_dataloader
from polymodal.evaluate.run import evaluate_run
from polymodal.presets import load_preset
from polymodal.rundir.load import load_trained
from polymodal.train.run import train

DEFAULT_FSDD = Path(__file__).resolve().parents[1].parent / "shared/data/fsdd/recordings"


def _models(preset: str) -> dict[str, dict[str, Any]]:
    fused = load_preset(preset)
    return {
        "audio-only": {"encoders": {"audio": "audio_conv"}},
        "image-only": {"encoders": {"image": "cnn"}},
        preset: fused,
        f"{preset} + unimodal losses": {**fused, "unimodal_loss_weight": 1.0},
    }


@torch.no_grad()
def _pooled(model: Any, dataset: Any, specs: dict[str, Any], modality: str) -> np.ndarray:
    """Pooled features ``[N, D]`` of one encoder over a split (eval mode)."""
    chunks = []
    for batch in make_dataloader(dataset, specs, batch_size=256):
        chunks.append(model.encoders[modality](batch.inputs[modality]).pooled.numpy())
    return np.concatenate(chunks)


def _targets(dataset: Any) -> np.ndarray:
    return np.array([int(dataset[i].target) for i in range(len(dataset))])


def probe(run_dir: Path, modality: str) -> float:
    """Test accuracy of a logistic regression on the encoder's pooled training features."""
    _, bundle, model = load_trained(run_dir)
    specs = {m: bundle.info.modalities[m] for m in model.encoders}
    train_split, test_split = bundle.splits["train"], bundle.splits["test"]
    features = _pooled(model, train_split, specs, modality)
    classifier = LogisticRegression(max_iter=2000).fit(features, _targets(train_split))
    return float(
        classifier.score(_pooled(model, test_split, specs, modality), _targets(test_split))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tfn")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fsdd", default=os.environ.get("POLYMODAL_FSDD_DIR", str(DEFAULT_FSDD)))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in _models(args.preset).items():
            for seed in args.seeds:
                config = parse_config(
                    {
                        "seed": seed,
                        "data": {"name": "digits-av", "fsdd_dir": args.fsdd},
                        "model": model,
                        "train": {"max_epochs": args.epochs, "lr": 0.001, "progress": False},
                    }
                )
                run_dir = Path(tmp) / f"{name.replace(' ', '_')}_s{seed}"
                train(config, run_dir)
                row = rows.setdefault(name, {})
                row.setdefault("test", []).append(evaluate_run(run_dir).metrics["accuracy"])
                for m in config.model.encoders:
                    row.setdefault(m, []).append(probe(run_dir, m))
                print(
                    f"{name} seed {seed}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in row.items())
                )

    def cell(values: list[float] | None) -> str:
        if not values:
            return "-"
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} ± {spread:.3f}"

    print(f"\ndigits-av, {args.epochs} epochs, seeds {args.seeds} (mean ± std)")
    print("| model | test accuracy | image encoder probe | audio encoder probe |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        probes = f"{cell(row.get('image'))} | {cell(row.get('audio'))}"
        print(f"| {name} | {cell(row['test'])} | {probes} |")


if __name__ == "__main__":
    main()
