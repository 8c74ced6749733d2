"""Property-based tests of the config loader: on any YAML text, raw mapping or override, only a
:class:`~polymodal.errors.ConfigError` (never a raw exception); a valid config round-trips."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from polymodal.config import (
    ExperimentConfig,
    apply_overrides,
    config_to_dict,
    config_to_yaml,
    load_config,
    parse_config,
)
from polymodal.errors import ConfigError, PolymodalError

T = TypeVar("T")
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same examples on every run: no flaky suite
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def outcome(function: Callable[[], T]) -> tuple[T | None, PolymodalError | None]:
    """``(result, None)``, or ``(None, error)`` for a PolymodalError; other errors propagate."""
    try:
        return function(), None
    except PolymodalError as error:
        return None, error


# YAML text made of the pieces configs are written with, explicit tags included
TOKENS = [
    "model:", "encoders:", "image:", "audio:", "cnn", "concat", "fusion:", "name:", "seed:",
    "train:", "lr:", "max_epochs:", "data:", "synthetic", "manifest", "eval:", "split:",
    " ", "  ", "\n", "\n  ", "\t", "{", "}", "[", "]", ",", ":", ": ", "- ", "? ", "#", "'", '"',
    "0", "3", "-1", "1e-3", ".nan", ".inf", "null", "~", "true", "x", "ü",
    "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!str ", "!!set ", "!!omap ",
    "!!python/name:os.system ", "&a ", "*a", "---\n", "...\n", "%YAML 1.1\n",
]  # fmt: skip
yaml_text = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join) | st.text(max_size=30)


@SETTINGS
@given(text=yaml_text)
def test_load_config_on_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exp.yaml"
        path.write_text(text, encoding="utf-8")
        config, error = outcome(lambda: load_config(path))
    event("loaded" if error is None else "refused")
    if error is not None:
        assert isinstance(error, ConfigError)
        assert error.source == str(path)
        assert error.problems
        assert all(isinstance(p, str) and p for p in error.problems)
    else:
        assert isinstance(config, ExperimentConfig)


# raw mappings: keys of the real schema and a few others, any values
SCHEMA_KEYS = [
    "seed", "name", "data", "model", "train", "eval", "encoders", "image", "fusion", "head",
    "interaction", "lr", "max_epochs", "batch_size", "devices", "early_stopping", "split",
    "patience", "metrics", "task", "n", "out_dim", "hidden_dim", "path", 0, "",
]  # fmt: skip
KEYS = st.sampled_from(SCHEMA_KEYS)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-3, 10**20)
    | st.floats()
    | st.sampled_from(["cnn", "concat", "synthetic", "manifest", "mlp", "x", "", "a/b", "gpu"])
)
raw_values = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(raw=st.dictionaries(KEYS, raw_values, max_size=5) | raw_values)
def test_parse_config_on_any_value_gives_a_config_or_a_config_error(raw: Any) -> None:
    config, error = outcome(lambda: parse_config(raw, source="gen.yaml"))
    event("parsed" if error is None else "refused")
    if error is not None:
        assert isinstance(error, ConfigError)
        assert str(error).startswith("gen.yaml: invalid configuration (")
        assert len(error.problems) >= 1
    else:
        assert isinstance(config, ExperimentConfig)


KEY_PARTS = ["train", "model", "fusion", "encoders", "image", "max_epochs", "lr", "seed", " ", ""]
VALUE_PIECES = [
    " ", "3", "0.1", "-1", "x", "[", "]", "{", "}", ":", ",", "=", "null", "'", "\\", "ü",
    "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "&a ", "*a", "\t",
]  # fmt: skip
dotted_keys = st.lists(st.sampled_from(KEY_PARTS), min_size=1, max_size=3).map(".".join)
values = st.lists(st.sampled_from(VALUE_PIECES), max_size=6).map("".join)
overrides = st.lists(
    st.builds("{}={}".format, dotted_keys, values) | st.text(max_size=8), max_size=3
)
BASE = {"model": {"encoders": {"image": "cnn"}, "fusion": "concat"}, "train": {"max_epochs": 2}}
BASE_COPY = copy.deepcopy(BASE)


@SETTINGS
@given(items=overrides)
def test_apply_overrides_gives_a_mapping_or_a_config_error(items: list[str]) -> None:
    raw, error = outcome(lambda: apply_overrides(BASE, items))
    event("applied" if error is None else "refused")
    if error is not None:
        assert isinstance(error, ConfigError)
        assert error.source == "command line"
        assert all(p.startswith("override ") for p in error.problems)
        return
    assert isinstance(raw, dict)
    assert BASE == BASE_COPY  # the input mapping is left alone
    if items:  # the last override's value is where its dotted key says
        key, _, text = items[-1].partition("=")
        node: Any = raw
        for part in key.strip().split("."):
            node = node[part]
        assert node == (yaml.safe_load(text) if text.strip() else None)


# valid configs: every value in range, components that need no parameters
ENCODERS = {"image": "cnn", "audio": "audio_conv", "text": "text_gru"}
valid_configs = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31),
        "model": st.fixed_dictionaries(
            {
                "encoders": st.dictionaries(
                    st.sampled_from(sorted(ENCODERS)), st.just(None), min_size=1
                ).map(lambda d: {k: ENCODERS[k] for k in d}),
                "fusion": st.sampled_from(["concat", "sum", "gated", "lowrank", "tensor"]),
            }
        ),
        "train": st.fixed_dictionaries(
            {
                "max_epochs": st.integers(1, 100),
                "batch_size": st.integers(1, 512),
                "lr": st.floats(1e-6, 1.0),
                "optimizer": st.sampled_from(["adamw", "adam", "sgd"]),
                "scheduler": st.sampled_from(["none", "cosine", "step"]),
                "gamma": st.floats(0.01, 1.0),
                "precision": st.sampled_from(["32-true", "64-true", "bf16-mixed"]),
                "devices": st.integers(1, 8) | st.just("auto") | st.lists(st.integers(0, 7)),
            },
            optional={
                "early_stopping": st.fixed_dictionaries(
                    {"patience": st.integers(1, 20), "mode": st.sampled_from(["min", "max"])}
                ),
            },
        ),
        "eval": st.fixed_dictionaries({"split": st.sampled_from(["test", "val"])}),
    },
    optional={"name": st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)},
)


@settings(SETTINGS, max_examples=40)
@given(raw=valid_configs)
def test_a_valid_config_round_trips(raw: dict[str, Any]) -> None:
    config = parse_config(raw)
    plain = config_to_dict(config)
    # what was written is what is kept
    assert plain["seed"] == raw["seed"]
    for key, value in raw["train"].items():
        kept = plain["train"][key]
        assert kept == value or (isinstance(value, dict) and value.items() <= kept.items())
    assert {k: v["name"] for k, v in plain["model"]["encoders"].items()} == raw["model"]["encoders"]
    assert plain["model"]["fusion"]["name"] == raw["model"]["fusion"]
    # the resolved mapping, and its YAML text, parse back to the same config
    assert parse_config(plain) == config
    assert config_to_dict(parse_config(plain)) == plain
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(config_to_yaml(config), encoding="utf-8")
        assert load_config(path) == config
