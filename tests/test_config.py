"""Experiment configs: validation with every problem at once, YAML paths, overrides."""

from pathlib import Path

import pytest

from polymodal.config import (
    ExperimentConfig,
    apply_overrides,
    config_to_dict,
    load_config,
    parse_config,
)
from polymodal.errors import ConfigError

GOOD = """
seed: 3
data: {name: synthetic, task: synergy, n: 200}
model:
  encoders: {image: cnn, audio: {name: audio_conv}}
  fusion: concat
train: {max_epochs: 2, batch_size: 16}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_good_file_loads_with_defaults(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.seed == 3
    assert cfg.data.name == "synthetic"
    assert cfg.data.params == {"task": "synergy", "n": 200}
    assert cfg.model.encoders["image"].name == "cnn"
    assert cfg.model.fusion.name == "concat"
    assert cfg.train.max_epochs == 2
    assert cfg.train.lr == pytest.approx(1e-3)
    assert cfg.eval.split == "test"


def test_every_problem_is_reported_at_once_with_yaml_paths(tmp_path):
    text = """
seed: -1
data: {name: synthetic, task: triple}
model:
  encoders: {image: cnnn}
  fusion: {name: concat, hiddn: 3}
train: {max_epoch: 2, batch_size: abc, precision: "8-true"}
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    err = info.value
    problems = "\n".join(err.problems)
    assert err.source.endswith("exp.yaml")
    assert "seed: Input should be greater than or equal to 0" in problems
    assert "train.max_epoch: unknown key; did you mean 'max_epochs'?" in problems
    assert "train.batch_size" in problems
    assert "'abc'" in problems
    assert "train.precision" in problems
    assert "'32-true'" in problems
    assert "model.encoders.image.name: unknown encoder 'cnnn'" in problems
    assert "cnn" in problems.split("unknown encoder 'cnnn'")[1]  # the known names follow
    assert "model.fusion.hiddn: unknown key" in problems
    assert "data.task" in problems
    assert "'synergy'" in problems
    assert len(err.problems) == 7
    assert str(err).startswith(f"{err.source}: invalid configuration (7 problems)")


def test_overrides_are_parsed_as_yaml_and_expand_component_names(tmp_path):
    cfg = load_config(
        write(tmp_path, GOOD),
        ["train.max_epochs=5", "model.fusion.name=late", "train.lr=0.01", "data.n=64"],
    )
    assert cfg.train.max_epochs == 5
    assert cfg.model.fusion.name == "late"
    assert cfg.train.lr == pytest.approx(0.01)
    assert cfg.data.params["n"] == 64
    raw = apply_overrides({"model": {"fusion": "concat"}}, ["model.fusion.hidden_dim=8"])
    assert raw == {"model": {"fusion": {"name": "concat", "hidden_dim": 8}}}


@pytest.mark.parametrize("override", ["train.max_epochs", "=3", "a..b=1", "train.lr=[1,"])
def test_malformed_override_is_a_config_error(override):
    with pytest.raises(ConfigError) as info:
        apply_overrides({}, [override])
    assert info.value.source == "command line"
    assert override in info.value.problems[0]


def test_yaml_syntax_error_names_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "model:\n  encoders: {image: cnn\n"))
    assert "YAML syntax error at line" in info.value.problems[0]


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        parse_config([1, 2])


def test_resolved_config_round_trips():
    cfg = parse_config({"model": {"encoders": {"image": "cnn"}}})
    again = parse_config(config_to_dict(cfg))
    assert again == cfg
