"""Preset expansion (polymodal.config.presets): one pre-pass for experiments and benchmarks."""

from __future__ import annotations

import pytest

from polymodal.bench.cells import expand_cells
from polymodal.bench.spec import BenchSpec
from polymodal.config import (
    LINEAR_PROBE,
    config_to_dict,
    expand_presets,
    load_config,
    merge,
    parse_config,
)
from polymodal.errors import ConfigError
from polymodal.presets import load_preset, preset_names

DATA = {"name": "synthetic", "task": "redundant", "n": 200}
TFN_AUX = {"preset": "tfn", "fusion": {"proj_dim": 4}, "unimodal_loss_weight": 1.0}


def test_merge_is_key_by_key_for_mappings_and_replaces_the_rest() -> None:
    base = {"a": {"x": 1, "y": {"z": 2}}, "b": [1, 2], "c": 3}
    out = merge(base, {"a": {"y": {"w": 4}}, "b": [9], "d": None})
    assert out == {"a": {"x": 1, "y": {"z": 2, "w": 4}}, "b": [9], "c": 3, "d": None}
    assert base == {"a": {"x": 1, "y": {"z": 2}}, "b": [1, 2], "c": 3}  # unchanged


def test_an_experiment_model_preset_with_changes() -> None:
    config = parse_config({"data": DATA, "model": TFN_AUX})
    expected = load_preset("tfn")
    expected["fusion"]["proj_dim"] = 4
    assert config.model is not None
    assert config.model.unimodal_loss_weight == 1.0
    assert config.model.fusion.params == {
        k: v for k, v in expected["fusion"].items() if k != "name"
    }
    assert config.model.encoders["image"].params["out_dim"] == 64  # the rest of the preset kept


def test_an_experiment_model_preset_equals_the_bench_spec_expansion_of_the_same_entry() -> None:
    experiment = parse_config(
        {"seed": 0, "data": DATA, "model": TFN_AUX, "train": {"max_epochs": 1}}
    )
    spec = BenchSpec.model_validate(
        {"datasets": [DATA], "models": {"m": TFN_AUX}, "train": {"max_epochs": 1}}
    )
    (cell,) = expand_cells(spec)
    ours, theirs = config_to_dict(experiment), config_to_dict(cell.config)
    assert ours["model"] == theirs["model"]
    assert ours["data"] == theirs["data"]


def test_a_contrastive_preset_as_model_is_the_bench_linear_probe() -> None:
    experiment = parse_config({"data": DATA, "model": "clip"})
    (cell,) = expand_cells(BenchSpec.model_validate({"datasets": [DATA], "models": {"c": "clip"}}))
    assert config_to_dict(experiment)["pretrain"] == config_to_dict(cell.config)["pretrain"]
    assert experiment.pretrain is not None
    assert experiment.pretrain.objective.name == "contrastive"
    assert experiment.model is not None
    assert experiment.model.head.params == {
        k: v for k, v in LINEAR_PROBE["head"].items() if k != "name"
    }


def test_pretrain_preset_keeps_working() -> None:
    config = parse_config(
        {"data": DATA, "pretrain": {"preset": "moco", "objective": {"momentum": 0.9}}}
    )
    assert config.pretrain is not None
    assert config.pretrain.objective.name == "moco"
    assert config.pretrain.objective.params["momentum"] == 0.9
    assert config.pretrain.towers["image"].head.name == "retrieval"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"model": {"preset": "nope", "fusion": {"proj_dim": 4}}}, "model.preset"),
        ({"model": "nope"}, "model"),
        ({"pretrain": {"preset": "nope"}}, "pretrain.preset"),
    ],
)
def test_an_unknown_preset_names_the_field_and_lists_the_presets(raw: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"data": DATA, **raw})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{field}: unknown preset 'nope'")
    assert ", ".join(preset_names()) in problem


def test_a_supervised_preset_is_not_a_pretrain_section() -> None:
    with pytest.raises(ConfigError, match=r"pretrain: preset 'tfn' is a supervised model section"):
        parse_config({"data": DATA, "pretrain": "tfn"})


def test_expansion_is_idempotent_and_leaves_the_input_alone() -> None:
    raw = {"data": DATA, "model": dict(TFN_AUX)}
    once, problems = expand_presets(raw)
    assert not problems
    assert raw["model"] == TFN_AUX
    assert expand_presets(once) == (once, [])


def test_overrides_change_a_preset_value(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: {name: synthetic, n: 200}\nmodel: tfn\n", encoding="utf-8")
    config = load_config(path, ["model.fusion.proj_dim=3"])
    assert config.model is not None
    assert config.model.fusion.name == "tensor"
    assert config.model.fusion.params["proj_dim"] == 3
