"""cache_info / cache_clear: listing entries with their sizes, removing them (all or by age), and
reading durations; the module itself imports no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from polymodal.cli.cache import cache_clear, cache_info, format_bytes, parse_duration
from polymodal.data.bundle import ListDataset
from polymodal.data.collate import Collator
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.encoders.scratch import MLPEncoder
from polymodal.errors import DataError
from polymodal.features import FeatureCache, dataset_digest, fingerprint

TAB = ModalitySpec("tab", "tabular", (3,))


def fill(cache_dir: Path) -> list[str]:
    """Two entries: the first with splits train and test, the second with train only."""
    torch.manual_seed(0)
    encoder = MLPEncoder(TAB, out_dim=4, hidden_dim=4).requires_grad_(False)
    data = ListDataset([Sample(f"r{i}", {"tab": torch.full((3,), float(i))}) for i in range(5)])
    cache = FeatureCache(cache_dir)
    keys = []
    for version, splits in ((1, ["train", "test"]), (2, ["train"])):
        key = fingerprint(encoder, TAB, dataset_digest(data, "tab"), {"v": version})
        for split in splits:
            cache.get_or_compute(key, split, data, encoder, 2, Collator({"tab": TAB}))
        keys.append(key)
    return keys


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_info_lists_entries_with_splits_and_sizes(tmp_path):
    first, second = fill(tmp_path)
    text = cache_info(tmp_path)
    lines = text.splitlines()
    assert lines[0] == f"feature cache {tmp_path}: 2 entries"
    assert lines[1].split() == ["fingerprint", "splits", "size", "created", "(UTC)"]
    rows = {line.split()[0]: line.split() for line in lines[2:4]}
    assert rows[first[:16]][1] == "test,train"
    assert rows[second[:16]][1] == "train"
    assert " ".join(rows[first[:16]][2:4]) == format_bytes(folder_size(tmp_path / first))
    assert " ".join(rows[second[:16]][2:4]) == format_bytes(folder_size(tmp_path / second))
    total = folder_size(tmp_path / first) + folder_size(tmp_path / second)
    assert lines[-1] == f"total: {format_bytes(total)}"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert today in lines[2]


def test_clear_by_age_then_all(tmp_path):
    first, second = fill(tmp_path)
    assert cache_clear(tmp_path, older_than="1h") == 0
    for split in ("train", "test"):  # make the first entry 2 days old
        marker = tmp_path / first / split / "complete.json"
        document = json.loads(marker.read_text())
        document["created"] -= 2 * 86400
        marker.write_text(json.dumps(document))
    assert cache_clear(tmp_path, older_than="1d") == 1
    assert not (tmp_path / first).exists()
    assert second[:16] in cache_info(tmp_path)
    assert cache_clear(tmp_path) == 1
    assert cache_info(tmp_path) == f"no cached features in {tmp_path}"
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_and_wrong_paths(tmp_path):
    assert cache_info(tmp_path / "absent") == f"no cached features in {tmp_path / 'absent'}"
    assert cache_clear(tmp_path / "absent") == 0
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        cache_info(not_a_folder)
    with pytest.raises(DataError, match="cannot read the duration"):
        cache_clear(tmp_path, older_than="soon")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("1.5h", 5400.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        (" 12 H ", 43200.0),
        (45, 45.0),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1d", "1y", "inf", "3 days"])
def test_parse_duration_refuses_other_forms(text):
    with pytest.raises(DataError):
        parse_duration(text)


def test_format_bytes():
    assert format_bytes(0) == "0 B"
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(5 * 1024**3) == "5.0 GiB"
    assert format_bytes(3 * 1024**4) == "3.0 TiB"


def test_module_imports_no_torch():
    code = "import sys, polymodal.cli.cache; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
