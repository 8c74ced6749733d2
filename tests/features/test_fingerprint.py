"""Fingerprints: deterministic, and changed by every input they cover."""

from __future__ import annotations

import pytest
import torch
from cache_helpers import (
    IMAGE,
    frozen_cnn,
    key_of,
    samples,
)

from polymodal.data.bundle import ListDataset
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.errors import DataError
from polymodal.features import (
    dataset_digest,
    fingerprint,
)


def test_fingerprint_is_deterministic_and_ignores_train_mode():
    data = samples()
    base = key_of(frozen_cnn(), data)
    assert len(base) == 64
    assert key_of(frozen_cnn(), samples()) == base  # rebuilt from the same seed and data
    assert key_of(frozen_cnn().train(), data) == base


def test_any_change_changes_the_fingerprint():
    data = samples()
    base = key_of(frozen_cnn(), data, {"state": {"size": 8}})
    changed_weights = frozen_cnn()
    with torch.no_grad():
        changed_weights.proj.bias[0] += 1e-6
    renamed = samples()
    renamed.samples[3] = Sample("other", renamed.samples[3].inputs, renamed.samples[3].target)
    one_pixel = samples()
    one_pixel.samples[0].inputs["image"][0, 0, 0] += 1e-3
    made_absent = samples()
    made_absent.samples[1].inputs["image"] = None
    state = {"state": {"size": 8}}
    variants = {
        "encoder params (same weights)": key_of(frozen_cnn(max_grid=3), data, state),
        "encoder params (other weights)": key_of(frozen_cnn(channels=8), data, state),
        "weights": key_of(changed_weights, data, state),
        "seed": key_of(frozen_cnn(seed=1), data, state),
        "data values": key_of(frozen_cnn(), one_pixel, state),
        "presence": key_of(frozen_cnn(), made_absent, state),
        "sample ids": key_of(frozen_cnn(), renamed, state),
        "sample order": key_of(frozen_cnn(), ListDataset(data.samples[::-1]), state),
        "preprocessing state": key_of(frozen_cnn(), data, {"state": {"size": 9}}),
        "spec meta": key_of(
            frozen_cnn(), data, state, ModalitySpec("image", "image", (3, 8, 8), meta={"a": 1})
        ),
    }
    assert all(key != base for key in variants.values()), variants
    assert len(set(variants.values())) == len(variants)
    config = {"name": "cnn", "params": {"out_dim": 8}}
    digest = dataset_digest({"train": data}, "image")
    with_config = fingerprint(frozen_cnn(), IMAGE, digest, config=config)
    assert with_config != fingerprint(frozen_cnn(), IMAGE, digest)
    other = {"name": "cnn", "params": {"out_dim": 8, "dropout": 0.5}}
    assert with_config != fingerprint(frozen_cnn(), IMAGE, digest, config=other)


def test_dataset_digest_covers_every_split_and_refuses_non_tensors():
    a, b = samples(seed=1), samples(seed=2)
    assert dataset_digest({"train": a, "test": b}, "image") != dataset_digest(
        {"train": a, "test": a}, "image"
    )
    assert dataset_digest({"train": a}, "image") != dataset_digest({"val": a}, "image")
    with pytest.raises(DataError, match="not a tensor"):
        dataset_digest(ListDataset([Sample("x", {"image": "path.png"})]), "image")  # type: ignore[dict-item]
    with pytest.raises(DataError, match="cannot fingerprint"):
        fingerprint(frozen_cnn(), IMAGE, "d", {"bad": object()})
