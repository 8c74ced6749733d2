"""Shared pieces of the feature-cache tests: a frozen CNN, a small dataset with an absent
sample, keys, and probes of the files and the encoder calls."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from polymodal.data.bundle import ListDataset
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.encoders.scratch import CNNEncoder
from polymodal.features import (
    dataset_digest,
    fingerprint,
)

IMAGE = ModalitySpec("image", "image", (3, 8, 8))
TAB = ModalitySpec("tab", "tabular", (4,))
SPECS = {"image": IMAGE, "tab": TAB}


def frozen_cnn(seed: int = 0, **params) -> CNNEncoder:
    torch.manual_seed(seed)
    options = {"out_dim": 8, "channels": 4, "num_blocks": 2, **params}
    return CNNEncoder(IMAGE, **options).requires_grad_(False).eval()


def samples(n: int = 6, seed: int = 1, absent: int = 2) -> ListDataset:
    g = torch.Generator().manual_seed(seed)
    return ListDataset(
        [
            Sample(
                f"s{i}",
                {
                    "image": None if i == absent else torch.rand(3, 8, 8, generator=g),
                    "tab": torch.randn(4, generator=g),
                },
                torch.tensor(i % 3),
            )
            for i in range(n)
        ]
    )


def key_of(encoder, data, extra=None, spec=IMAGE) -> str:
    return fingerprint(encoder, spec, dataset_digest({"train": data}, "image"), extra)


def temp_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def array_digest(cached) -> str:
    hasher = hashlib.sha256(("|".join(cached.ids)).encode())
    for name in sorted(cached.arrays):
        hasher.update(np.ascontiguousarray(cached.arrays[name]).tobytes())
    return hasher.hexdigest()


def count_calls(encoder) -> list[int]:
    calls: list[int] = []

    def hook(module, args, output) -> None:
        calls.append(len(args[0]))

    encoder.register_forward_hook(hook)
    return calls
