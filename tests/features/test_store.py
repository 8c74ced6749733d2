"""The store: crashes and kills while writing, concurrent writers, listing and clearing."""

from __future__ import annotations

import multiprocessing
import os
import time

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

import polymodal.features.compute as compute_module
from polymodal.data.collate import Collator
from polymodal.features import (
    TEMP_PREFIX,
    CacheMiss,
    FeatureCache,
)
from polymodal.features.layout import host_name


@pytest.mark.parametrize("target", ["save_array", "write_json"])
def test_crash_while_writing_leaves_nothing_that_loads(tmp_path, monkeypatch, target):
    cache, data, encoder = FeatureCache(tmp_path), samples(), frozen_cnn()
    key = key_of(encoder, data)
    original = getattr(compute_module, target)
    calls = []

    def failing(path, value):
        calls.append(path.name)
        if (target == "save_array" and len(calls) == 7) or path.name == "complete.json":
            raise OSError("disk full (simulated)")
        original(path, value)

    monkeypatch.setattr(compute_module, target, failing)
    with pytest.raises(OSError, match="simulated"):
        cache.get_or_compute(key, "train", data, encoder, 4, Collator(SPECS))
    assert not cache.contains(key, "train")
    assert cache.entries() == []
    assert temp_folders(tmp_path) == []
    monkeypatch.setattr(compute_module, target, original)
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
    original = compute_module.save_array

    def dying(path, array):
        calls.append(path)
        if len(calls) == 6:
            os._exit(3)
        original(path, array)

    compute_module.save_array = dying
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
    live = tmp_path / f"{TEMP_PREFIX}{host_name()}-{os.getppid()}-abc"
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
