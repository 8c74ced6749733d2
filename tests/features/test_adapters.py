"""Cached features in a model: identical outputs with a CachedEncoder, batches, pickling."""

from __future__ import annotations

import copy

import pytest
import torch
from cache_helpers import (
    IMAGE,
    SPECS,
    TAB,
    frozen_cnn,
    key_of,
    samples,
)
from torch.utils.data import DataLoader

from polymodal.data.collate import Collator
from polymodal.data.loading import make_dataloader
from polymodal.data.schema import Batch, ModalityBatch, TaskSpec
from polymodal.encoders.scratch import MLPEncoder
from polymodal.errors import DataError
from polymodal.features import (
    CachedCollator,
    CachedEncoder,
    CachedModalityBatch,
    CachedModalityDataset,
    FeatureCache,
)
from polymodal.fusion.concat import ConcatFusion
from polymodal.heads.classification import ClassificationHead
from polymodal.models.multimodal import MultimodalModel


def model_with(image_encoder) -> MultimodalModel:
    torch.manual_seed(5)
    task = TaskSpec("multiclass", 3)
    tab = MLPEncoder(TAB, out_dim=6, hidden_dim=8)
    fusion = ConcatFusion({"image": int(image_encoder.out_dim), "tab": 6}, task)
    head = ClassificationHead(fusion.out_dim, task)
    return MultimodalModel({"image": image_encoder, "tab": tab}, fusion, head).eval()


def test_model_with_a_cached_encoder_gives_identical_outputs(tmp_path):
    data, encoder = samples(n=7), frozen_cnn()
    model = model_with(encoder)
    cached = FeatureCache(tmp_path).get_or_compute(
        key_of(encoder, data), "train", data, encoder, 3, Collator(SPECS)
    )
    swapped = copy.deepcopy(model)
    swapped.encoders["image"] = CachedEncoder.from_encoder(encoder)
    assert sum(p.numel() for p in swapped.encoders["image"].parameters()) == 0
    wrapped = CachedModalityDataset(data, {"image": cached})
    collate = CachedCollator(SPECS, cached=["image"])
    with torch.no_grad():
        for batch_size, exact in [(3, True), (2, False)]:
            original = [model(b) for b in make_dataloader(data, SPECS, batch_size=batch_size)]
            loader = DataLoader(wrapped, batch_size=batch_size, collate_fn=collate)
            replayed = [swapped(b) for b in loader]
            got = torch.cat([o.output for o in replayed])
            expected = torch.cat([o.output for o in original])
            if exact:  # the same batches as when the cache was written: bit for bit
                assert torch.equal(got, expected)
                for o, r in zip(original, replayed, strict=True):
                    assert torch.equal(o.features["image"].tokens, r.features["image"].tokens)
                    assert torch.equal(o.features["image"].present, r.features["image"].present)
            else:  # other batches: convolution may round differently with the batch size
                torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_cached_encoder_refuses_raw_batches_and_batches_move_to_devices():
    encoder = CachedEncoder(IMAGE, 8)
    raw = ModalityBatch(torch.zeros(1, 3, 8, 8), torch.tensor([True]))
    with pytest.raises(DataError, match="without cached features"):
        encoder(raw)
    batch = Batch(
        ["a"],
        {
            "image": CachedModalityBatch(
                torch.ones(1, 2, 8),
                torch.tensor([True]),
                torch.zeros(1, 2, dtype=torch.bool),
                torch.ones(1, 8),
            )
        },
    )
    moved = batch.to("cpu")
    assert isinstance(moved.inputs["image"], CachedModalityBatch)
    assert torch.equal(encoder(moved.inputs["image"]).pooled, torch.ones(1, 8))
    with pytest.raises(DataError, match="width 8"):
        CachedEncoder(IMAGE, 5)(moved.inputs["image"])


def test_cached_features_pickle_without_their_arrays(tmp_path):
    import pickle

    data, encoder = samples(), frozen_cnn()
    cached = FeatureCache(tmp_path).get_or_compute(
        key_of(encoder, data), "train", data, encoder, 4, Collator(SPECS)
    )
    cached[0]  # maps the arrays
    blob = pickle.dumps(cached)
    assert len(blob) < 2000
    assert torch.equal(pickle.loads(blob)[5].tokens, cached[5].tokens)
