"""Tests of the dataset contract as polymodal.data documents it: the docstring's example
factory registers, builds through the registry and collates; every exported name resolves."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import polymodal.data
from polymodal.data.collate import Collator
from polymodal.registry import DATASETS


def _example() -> str:
    """The indented code block after ``Example::`` in the package docstring."""
    doc = polymodal.data.__doc__ or ""
    block = doc.split("Example::", 1)[1].split("\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_the_documented_example_builds_and_collates(monkeypatch: pytest.MonkeyPatch) -> None:
    DATASETS.names()  # load the built-in datasets first
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))  # "toy" goes away after
    exec(compile(_example(), "polymodal.data example", "exec"), {})
    bundle = DATASETS.create("toy", seed=3, state=None, n=10)
    assert DATASETS.entry("toy").summary.startswith("Random images and tabular rows")
    assert set(bundle.splits) == {"train", "test"}
    train = [bundle.splits["train"][i] for i in range(5)]
    batch = Collator(bundle.info.modalities)(train)
    assert batch.inputs["photo"].values.shape == (5, 1, 8, 8)
    assert batch.inputs["row"].values.shape == (5, 3)
    assert batch.target.tolist() == [int(s.inputs["row"][0] > 0) for s in train]
    again = DATASETS.create("toy", seed=3, state=None, n=10)
    assert torch.equal(
        again.splits["test"][0].inputs["photo"], bundle.splits["test"][0].inputs["photo"]
    )


def test_every_exported_name_resolves_to_its_module() -> None:
    from polymodal.data.bundle import DataBundle
    from polymodal.data.schema import Sample

    assert polymodal.data.DataBundle is DataBundle
    assert polymodal.data.Sample is Sample
    assert polymodal.data.DATASETS is DATASETS
    for name in polymodal.data.__all__:
        assert getattr(polymodal.data, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = polymodal.data.nothing  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_torch() -> None:
    code = "import sys, polymodal.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
