"""Small MMSA feature pickles of exactly MMSA's layout, written with numpy (shared by tests)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {"train": 8, "valid": 4, "test": 4}
T_TEXT, T_AUDIO, T_VISION = 6, 7, 5
D_TEXT, D_AUDIO, D_VISION = 300, 5, 4


def mmsa_split(n: int, prefix: str, rng: np.random.Generator, *, aligned: bool) -> dict[str, Any]:
    """One split: GloVe-like text, BERT ids, audio (with -inf), vision (with NaN), labels, ids."""
    ids = np.array([f"{prefix}clip$_${i}" for i in range(n)], dtype=object)
    t_audio = T_TEXT if aligned else T_AUDIO
    t_vision = T_TEXT if aligned else T_VISION
    bert = np.zeros((n, 3, T_TEXT))
    for i in range(n):
        length = 2 + i % (T_TEXT - 1)
        bert[i, 0, :length] = rng.integers(100, 900, length)
        bert[i, 1, :length] = 1
    split: dict[str, Any] = {
        "raw_text": np.array([f"words of clip {i}" for i in range(n)], dtype=object),
        "text": rng.normal(size=(n, T_TEXT, D_TEXT)).astype(np.float32),
        "text_bert": bert,
        "audio": rng.normal(size=(n, t_audio, D_AUDIO)).astype(np.float32),
        "vision": rng.normal(size=(n, t_vision, D_VISION)).astype(np.float32),
        "id": ids,
        "regression_labels": np.round(rng.uniform(-3, 3, n), 1).astype(np.float32),
        "classification_labels": rng.integers(0, 3, n).astype(np.float32),
    }
    split["audio"][0, 0, 0] = -np.inf
    split["vision"][0, 1, 1] = np.nan
    if not aligned:
        split["audio_lengths"] = [t_audio - i % 3 for i in range(n)]
        split["vision_lengths"] = np.array([max(0, t_vision - i) for i in range(n)])
    return split


def mmsa_data(*, aligned: bool = False, seed: int = 0) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return {k: mmsa_split(n, f"{k[:2]}", rng, aligned=aligned) for k, n in SIZES.items()}


def write_pickle(data: Any, path: Path, protocol: int = 4) -> Path:
    with path.open("wb") as handle:
        pickle.dump(data, handle, protocol=protocol)
    return path
