"""The feature cache: fingerprints, reuse without re-encoding, stored values, identical model
outputs with a CachedEncoder, crashes and kills while writing, and concurrent writers."""

from __future__ import annotations

import copy
import hashlib
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import polymodal.data.cache as cache_module
from polymodal.data.bundle import ListDataset
from polymodal.data.cache import (
    TEMP_PREFIX,
    CachedCollator,
    CachedEncoder,
    CachedItem,
    CachedModalityBatch,
    CachedModalityDataset,
    CacheMiss,
    FeatureCache,
    dataset_digest,
    fingerprint,
)
from polymodal.data.collate import Collator
from polymodal.data.loading import make_dataloader
from polymodal.data.schema import Batch, ModalityBatch, ModalitySpec, Sample, TaskSpec
from polymodal.encoders.scratch import AudioConvEncoder, CNNEncoder, MLPEncoder
from polymodal.errors import ConfigError, DataError
from polymodal.fusion.concat import ConcatFusion
from polymodal.heads.classification import ClassificationHead
from polymodal.models.multimodal import MultimodalModel

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


# ------------------------------------------------------------------------------------------------
# Fingerprints
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# Computing, reusing and reading entries
# ------------------------------------------------------------------------------------------------


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
    with pytest.raises(DataError, match="duplicate sample ids"):
        cache.get_or_compute(key_of(encoder, twice), "train", twice, encoder, 4, Collator(SPECS))
    assert cache.entries() == []
    assert temp_folders(tmp_path) == []


# ------------------------------------------------------------------------------------------------
# Using cached features in a model
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# Crashes, kills and concurrent writers
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["_save_array", "_write_json"])
def test_crash_while_writing_leaves_nothing_that_loads(tmp_path, monkeypatch, target):
    cache, data, encoder = FeatureCache(tmp_path), samples(), frozen_cnn()
    key = key_of(encoder, data)
    original = getattr(cache_module, target)
    calls = []

    def failing(path, value):
        calls.append(path.name)
        if (target == "_save_array" and len(calls) == 7) or path.name == "complete.json":
            raise OSError("disk full (simulated)")
        original(path, value)

    monkeypatch.setattr(cache_module, target, failing)
    with pytest.raises(OSError, match="simulated"):
        cache.get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    assert not cache.contains(key, "train")
    assert cache.entries() == []
    assert temp_folders(tmp_path) == []
    monkeypatch.setattr(cache_module, target, original)
    cached = cache.get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    assert len(cached) == 6
    assert temp_folders(tmp_path) == []


def test_writer_that_loses_the_race_keeps_the_winners_entry(tmp_path, monkeypatch):
    cache, data, encoder = FeatureCache(tmp_path), samples(), frozen_cnn()
    key = key_of(encoder, data)
    winner = cache.get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    created = (winner.path / "complete.json").read_text()
    original = FeatureCache.load
    misses = []

    def miss_once(self, fingerprint, split):  # the winner published after our first look
        if not misses:
            misses.append(split)
            raise CacheMiss("not yet")
        return original(self, fingerprint, split)

    monkeypatch.setattr(FeatureCache, "load", miss_once)
    calls = count_calls(encoder)
    loser = cache.get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    assert calls == [4, 2]  # it computed, then found the entry in place
    assert (loser.path / "complete.json").read_text() == created  # the winner's entry kept
    assert array_digest(loser) == array_digest(winner)
    assert temp_folders(tmp_path) == []


def test_a_broken_folder_in_the_entrys_place_is_replaced(tmp_path):
    cache, data, encoder = FeatureCache(tmp_path), samples(), frozen_cnn()
    key = key_of(encoder, data)
    broken = tmp_path / key / "train"
    broken.mkdir(parents=True)
    (broken / "tokens.npy").write_bytes(b"half a file")
    with pytest.raises(CacheMiss):
        cache.load(key, "train")
    cached = cache.get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    assert len(cached) == 6
    assert cache.contains(key, "train")
    assert temp_folders(tmp_path) == []


def die_while_writing(cache_dir: str) -> None:
    """Child process: start writing an entry and exit abruptly in the middle (like a kill)."""
    torch.set_num_threads(1)
    calls = []
    original = cache_module._save_array

    def dying(path, array):
        calls.append(path)
        if len(calls) == 6:
            os._exit(3)
        original(path, array)

    cache_module._save_array = dying
    data, encoder = samples(), frozen_cnn()
    FeatureCache(cache_dir).get_or_compute(
        key_of(encoder, data), "train", data, encoder, 2, Collator(SPECS)
    )


def test_killed_writer_leaves_a_temp_folder_that_the_next_write_or_clear_removes(tmp_path):
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=die_while_writing, args=(str(tmp_path),))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 3
    leftovers = temp_folders(tmp_path)
    assert len(leftovers) == 1
    assert leftovers[0].startswith(TEMP_PREFIX)
    assert f"-{child.pid}-" in leftovers[0]
    data, encoder = samples(), frozen_cnn()
    cache = FeatureCache(tmp_path)
    key = key_of(encoder, data)
    assert not cache.contains(key, "train")
    assert cache.entries() == []
    cache.get_or_compute(key, "train", data, encoder, 2, Collator(SPECS))  # sweeps it
    assert temp_folders(tmp_path) == []
    dead = tmp_path / leftovers[0]
    dead.mkdir()
    live = tmp_path / f"{TEMP_PREFIX}{cache_module._host()}-{os.getppid()}-abc"
    live.mkdir()  # a writer that still runs: kept
    assert cache.clear() == 1
    assert temp_folders(tmp_path) == [live.name]
    assert cache.entries() == []


def write_concurrently(cache_dir: str, barrier, results) -> None:
    """Child process: compute an entry; the first batch waits until the other writer computes
    too, so both miss the cache, both write, and one of them loses the race to publish."""
    torch.set_num_threads(1)
    data, encoder = samples(), frozen_cnn()
    calls = count_calls(encoder)

    def wait_for_the_other(module, args, output) -> None:
        if len(calls) == 1:
            barrier.wait(timeout=120)

    encoder.register_forward_hook(wait_for_the_other)
    key = key_of(encoder, data)
    cached = FeatureCache(cache_dir).get_or_compute(key, "train", data, encoder, 2, Collator(SPECS))
    results.put((len(calls), key, array_digest(cached)))


def test_two_processes_writing_one_entry_both_end_with_the_same_valid_entry(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    children = [
        context.Process(target=write_concurrently, args=(str(tmp_path), barrier, results))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert [calls for calls, _, _ in outcomes] == [3, 3]  # both computed: they raced
    assert outcomes[0][1:] == outcomes[1][1:]
    data, encoder = samples(), frozen_cnn()
    cache = FeatureCache(tmp_path)
    calls = count_calls(encoder)
    cached = cache.get_or_compute(outcomes[0][1], "train", data, encoder, 2, Collator(SPECS))
    assert calls == []
    assert array_digest(cached) == outcomes[0][2]
    expected = encoder(Collator(SPECS)(data.samples).inputs["image"])
    torch.testing.assert_close(torch.stack([cached[i].pooled for i in range(6)]), expected.pooled)
    assert [e["fingerprint"] for e in cache.entries()] == [outcomes[0][1]]
    assert temp_folders(tmp_path) == []


def test_entries_and_clear(tmp_path):
    cache, data, encoder = FeatureCache(tmp_path), samples(), frozen_cnn()
    first, second = key_of(encoder, data, {"v": 1}), key_of(encoder, data, {"v": 2})
    for key, split in [(first, "train"), (first, "test"), (second, "train")]:
        cache.get_or_compute(key, split, data, encoder, 4, Collator(SPECS))
    entries = {e["fingerprint"]: e for e in cache.entries()}
    assert entries[first]["splits"] == ["test", "train"]
    assert entries[second]["splits"] == ["train"]
    on_disk = sum(f.stat().st_size for f in (tmp_path / first).rglob("*") if f.is_file())
    assert entries[first]["bytes"] == on_disk
    assert entries[first]["created"] <= time.time()
    assert cache.clear(older_than=3600) == 0
    assert cache.clear(second) == 1
    assert [e["fingerprint"] for e in cache.entries()] == [first]
    assert cache.clear() == 1
    assert cache.entries() == []
    assert list(tmp_path.iterdir()) == []


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
