"""Tests of polymodal.data.manifest.readers: JSONL, CSV and Parquet rows, cells normalised."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from manifest_helpers import (
    build,
    sample_rows,
    write_manifest,
)

from polymodal.data.manifest import read_manifest
from polymodal.errors import DataError


def test_jsonl_csv_parquet_give_the_same_samples(tmp_path: Path) -> None:
    rows = sample_rows(tmp_path)
    bundles = [
        build(write_manifest(rows, tmp_path / f"m{ext}")) for ext in (".jsonl", ".csv", ".parquet")
    ]
    reference = bundles[0]
    assert {k: v.ids for k, v in reference.splits.items()} == {  # type: ignore[attr-defined]
        "train": ["a", "b", "e"],
        "val": ["c"],
        "test": ["d", "f"],
    }
    for other in bundles[1:]:
        assert other.info.modalities == reference.info.modalities
        assert other.info.task == reference.info.task
        assert other.state == reference.state
        for split in ("train", "val", "test"):
            for x, y in zip(reference.splits[split], other.splits[split], strict=True):  # type: ignore[call-overload]
                assert x.id == y.id
                assert torch.equal(x.target, y.target)
                for name, value in x.inputs.items():
                    if value is None:
                        assert y.inputs[name] is None
                    else:
                        assert torch.equal(value, y.inputs[name])


def test_read_manifest_normalises_cells(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1, "b": ""}\n\n{"c": "x"}\n', encoding="utf-8")
    rows, columns = read_manifest(path)
    assert columns == ["a", "b", "c"]
    assert rows == [{"a": 1, "b": None, "c": None}, {"a": None, "b": None, "c": "x"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_manifest(bad)
    with pytest.raises(DataError, match="unsupported manifest format"):
        read_manifest(tmp_path / "m.xlsx")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,text\n1,café\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_manifest(latin)
