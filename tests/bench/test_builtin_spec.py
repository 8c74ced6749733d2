"""The built-in benchmark (`polymodal bench` with no spec, `make demo`): a packaged YAML that
validates, runs digits-av on the packaged sample first, and pits unimodal baselines against
fusion presets with unimodal losses."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymodal.bench.cells import BUILTIN_SPEC, default_spec, expand_cells, load_spec

ROOT = Path(__file__).resolve().parents[2]


def test_default_spec_is_the_packaged_yaml_and_names_digits_av_first():
    spec = default_spec()
    assert spec == load_spec(BUILTIN_SPEC)
    labels = [label for label, _, _ in spec.labelled_datasets()]
    assert labels == ["digits-av", "synthetic-synergy"]
    assert spec.datasets[0].params.get("fsdd_dir") is None  # the packaged sample
    assert spec.eval.robustness
    assert spec.eval.contribution
    assert spec.eval.efficiency


def test_default_spec_keeps_its_settings_whatever_the_environment(monkeypatch):
    monkeypatch.setenv("POLYMODAL_FSDD_DIR", "/some/fsdd")  # digits-av's folder, not the spec's
    spec = default_spec()
    assert spec.name == "builtin"
    assert list(spec.models) == ["image-only", "audio-only", "early", "late", "tfn"]
    assert spec.seeds == [0]
    assert (spec.train.max_epochs, spec.train.batch_size, spec.train.lr) == (20, 32, 2e-3)
    assert spec.train.progress is False
    synergy = spec.datasets[1]
    assert (synergy.name, synergy.params["task"], synergy.params["n"]) == (
        "synthetic",
        "synergy",
        1000,
    )
    assert len(expand_cells(spec)) == 10


def test_default_spec_compares_unimodal_baselines_with_fusion_and_unimodal_losses():
    spec = default_spec()
    cells = expand_cells(spec)
    assert len(cells) == len(spec.datasets) * len(spec.models) * len(spec.seeds)
    digits = {c.model: c.config.model for c in cells if c.dataset == "digits-av"}
    assert set(digits["image-only"].encoders) == {"image"}
    assert set(digits["audio-only"].encoders) == {"audio"}
    fused = [name for name, m in digits.items() if set(m.encoders) == {"image", "audio"}]
    assert {"early", "late"} <= set(fused)
    for name in fused:
        assert digits[name].unimodal_loss_weight == 1.0, name


def test_packaged_files_are_package_data():
    tomllib = pytest.importorskip("tomllib")
    with (ROOT / "pyproject.toml").open("rb") as file:
        globs = tomllib.load(file)["tool"]["setuptools"]["package-data"]["polymodal"]
    package = ROOT / "src" / "polymodal"
    covered = {p for g in globs for p in package.glob(g)}
    assert BUILTIN_SPEC in covered
    sample = package / "data" / "builtin" / "fsdd_sample"
    assert {*sample.glob("*.wav"), sample / "LICENSE.md", sample / "README.md"} <= covered
