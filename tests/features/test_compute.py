"""Computing entries: reuse without re-encoding, stored values equal the encoder's, refusals."""

from __future__ import annotations

import pytest
import torch
from cache_helpers import (
    SPECS,
    array_digest,
    count_calls,
    frozen_cnn,
    key_of,
    samples,
    temp_folders,
)

from polymodal.data.bundle import ListDataset
from polymodal.data.collate import Collator
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.encoders.scratch import AudioConvEncoder
from polymodal.errors import ConfigError, DataError
from polymodal.features import (
    CachedCollator,
    CachedItem,
    CachedModalityBatch,
    CachedModalityDataset,
    CacheMiss,
    FeatureCache,
    dataset_digest,
    fingerprint,
)


def test_second_get_or_compute_does_not_call_the_encoder(tmp_path):
    data, encoder = samples(), frozen_cnn()
    calls = count_calls(encoder)
    key = key_of(encoder, data)
    first = FeatureCache(tmp_path).get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    assert calls == [4, 2]
    again = FeatureCache(tmp_path).get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    assert calls == [4, 2]  # a new cache object on the same folder: read, not recomputed
    assert array_digest(again) == array_digest(first)
    FeatureCache(tmp_path).get_or_compute(key, "val", data, encoder, 4, Collator(SPECS))
    assert calls == [4, 2, 4, 2]  # another split is another entry
    assert temp_folders(tmp_path) == []


def test_cached_values_equal_the_encoders_output(tmp_path):
    data, encoder = samples(), frozen_cnn()
    cached = FeatureCache(tmp_path).get_or_compute(
        key_of(encoder, data), "train", data, encoder, 6, Collator(SPECS)
    )
    features = encoder(Collator(SPECS)(data.samples).inputs["image"])
    assert cached.ids == [f"s{i}" for i in range(6)]
    assert cached.arrays["tokens"].shape == (6, 4, 8)  # 8x8 -> 2x2 grid after two blocks
    for row in range(6):
        item = cached[row]
        assert isinstance(item, CachedItem)
        assert torch.equal(item.tokens, features.tokens[row])
        assert torch.equal(item.pooled, features.pooled[row])
        assert torch.equal(item.padding_mask, features.padding_mask[row])
        assert bool(item.present) == (row != 2)
    assert cached.row_of("s4") == 4
    with pytest.raises(DataError, match="not in the cached features"):
        cached.row_of("missing")


def test_variable_length_tokens_are_padded_to_the_split_and_trimmed_per_sample(tmp_path):
    spec = ModalitySpec("audio", "audio", (-1, 5))
    torch.manual_seed(0)
    encoder = AudioConvEncoder(spec, out_dim=6, channels=4, num_layers=1, stride=2)
    encoder.requires_grad_(False).eval()
    g = torch.Generator().manual_seed(3)
    lengths = [3, 9, None, 6, 1]
    data = ListDataset(
        [
            Sample(f"a{i}", {"audio": None if n is None else torch.randn(n, 5, generator=g)})
            for i, n in enumerate(lengths)
        ]
    )
    specs = {"audio": spec}
    key = fingerprint(encoder, spec, dataset_digest(data, "audio"))
    cached = FeatureCache(tmp_path).get_or_compute(key, "train", data, encoder, 2, Collator(specs))
    assert cached.arrays["tokens"].shape == (5, 5, 6)  # ceil(9 / 2) = 5 positions at most
    for i, n in enumerate(lengths):
        alone = encoder(Collator(specs)([data[i]]).inputs["audio"])
        item = cached[i]
        expected_length = 1 if n is None else -(-n // 2)
        assert item.tokens.shape == (expected_length, 6)
        torch.testing.assert_close(item.tokens, alone.tokens[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(item.pooled, alone.pooled[0], rtol=0, atol=1e-6)
        assert not item.padding_mask.any()
    batch = CachedCollator(specs, ["audio"])(
        [CachedModalityDataset(data, {"audio": cached})[i] for i in (0, 3)]
    )
    block = batch.inputs["audio"]
    assert isinstance(block, CachedModalityBatch)
    assert block.values.shape == (2, 3, 6)  # padded to the longer of the two (ceil(6/2) = 3)
    assert block.padding_mask.tolist() == [[False, False, True], [False, False, False]]
    assert block.values[0, 2].abs().sum() == 0


def test_trainable_encoders_are_refused(tmp_path):
    data = samples()
    encoder = frozen_cnn().requires_grad_(True)
    with pytest.raises(ConfigError, match="trainable"):
        FeatureCache(tmp_path).get_or_compute(
            key_of(encoder, data), "train", data, encoder, 4, Collator(SPECS)
        )


def test_bad_keys_and_duplicate_ids(tmp_path):
    cache, data, encoder = FeatureCache(tmp_path), samples(), frozen_cnn()
    with pytest.raises(DataError, match="not a cache fingerprint"):
        cache.load("abc", "train")
    with pytest.raises(DataError, match="invalid split name"):
        cache.load("0" * 64, "../escape")
    with pytest.raises(CacheMiss):
        cache.load("0" * 64, "train")
    twice = ListDataset([*data.samples, data.samples[0]])
    calls = count_calls(encoder)
    with pytest.raises(DataError, match="duplicate sample ids"):
        cache.get_or_compute(key_of(encoder, twice), "train", twice, encoder, 4, Collator(SPECS))
    assert calls == []  # refused before encoding anything
    assert cache.entries() == []
    assert temp_folders(tmp_path) == []


def test_equal_inputs_are_encoded_once_and_every_row_gets_its_features(tmp_path):
    g = torch.Generator().manual_seed(5)
    images = [torch.rand(3, 8, 8, generator=g) for _ in range(3)]
    # rows: a, b, c, a (a copy, not the same object), absent, b, absent
    inputs = [images[0], images[1], images[2], images[0].clone(), None, images[1], None]
    data = ListDataset(
        [
            Sample(f"r{i}", {"image": x, "tab": torch.zeros(4)}, torch.tensor(0))
            for i, x in enumerate(inputs)
        ]
    )
    encoder = frozen_cnn()
    calls = count_calls(encoder)
    cached = FeatureCache(tmp_path).get_or_compute(
        key_of(encoder, data), "train", data, encoder, 2, Collator(SPECS)
    )
    assert sum(calls) == 4  # a, b, c and one absent row
    assert cached.ids == [f"r{i}" for i in range(7)]
    reference = encoder(Collator(SPECS)(data.samples).inputs["image"])
    for row in range(7):
        assert torch.equal(cached[row].pooled, reference.pooled[row])
        assert torch.equal(cached[row].tokens, reference.tokens[row])
        assert bool(cached[row].present) == (inputs[row] is not None)
