"""The bad-config corpus: every broken experiment file or override gives one
:class:`~polymodal.errors.ConfigError` naming the file and the YAML path of each problem, never a
raw exception."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polymodal.config import load_config
from polymodal.errors import ConfigError

GOOD = "model: {encoders: {image: cnn}}\n"
MANIFEST = "data: {name: manifest, path: m.jsonl, modalities: {x: {kind: text}}, label: y"

# name: (file text (str or bytes), overrides, regexes: each must match one problem)
BAD_CONFIGS: dict[str, tuple[str | bytes, list[str], list[str]]] = {
    "unknown_top_level_key": (
        GOOD + "trian: {max_epochs: 3}\n",
        [],
        [r"^trian: unknown key; did you mean 'train'\? \(allowed: data, eval, generation, model"],
    ),
    "unknown_nested_key": (
        GOOD + "train: {max_epoch: 3}\n",
        [],
        [r"^train\.max_epoch: unknown key; did you mean 'max_epochs'\?"],
    ),
    "unknown_component_parameter": (
        "model: {encoders: {image: cnn}, fusion: {name: concat, widht: 3}}\n",
        [],
        [r"^model\.fusion\.widht: unknown key"],
    ),
    "unknown_dataset_parameter": (
        GOOD + "data: {name: synthetic, size: 3}\n",
        [],
        [r"^data\.size: unknown key \(allowed: .*\bn\b"],
    ),
    "text_where_int_expected": (
        GOOD + "train: {max_epochs: ten}\n",
        [],
        [r"^train\.max_epochs: Input should be a valid integer.*\(got 'ten'\)"],
    ),
    "list_where_mapping_expected": (
        GOOD + "train: [1, 2]\n",
        [],
        [r"^train: Input should be a valid dictionary .*\(got \[1, 2\]\)"],
    ),
    "list_as_manifest_path": (
        GOOD + MANIFEST.replace("path: m.jsonl", "path: [a, b]") + "}\n",
        [],
        [r"^data\.path: Input should be a valid string; or .*\(got \['a', 'b'\]\)$"],
    ),
    "number_as_manifest_label": (
        GOOD + MANIFEST.replace("label: y", "label: 5") + "}\n",
        [],
        [r"^data\.label: Input should be a valid string; or .* valid list \(got 5\)$"],
    ),
    "union_of_three_types": (
        GOOD + "train: {devices: {a: 1}}\n",
        [],
        [r"^train\.devices: Input should be a valid integer; or .* string; or .* list$"],
    ),
    "negative_learning_rate": (
        GOOD + "train: {lr: -0.1}\n",
        [],
        [r"^train\.lr: Input should be greater than 0 \(got -0\.1\)"],
    ),
    "nan_learning_rate": (GOOD + "train: {lr: .nan}\n", [], [r"^train\.lr: .*\(got nan\)"]),
    "negative_seed": (GOOD + "seed: -1\n", [], [r"^seed: Input should be greater than or equal"]),
    "momentum_of_one": (
        GOOD + "train: {momentum: 1.0}\n",
        [],
        [r"^train\.momentum: .*less than 1"],
    ),
    "unknown_optimizer": (
        GOOD + "train: {optimizer: lbfgs}\n",
        [],
        [r"^train\.optimizer: Input should be 'adamw', 'adam' or 'sgd' \(got 'lbfgs'\)"],
    ),
    "no_encoders": ("model: {encoders: {}}\n", [], [r"^model\.encoders: .*at least 1 item"]),
    "no_model": (
        "seed: 1\n",
        [],
        [r"give `model` \(supervised\), `pretrain` \(contrastive\), or both"],
    ),
    "unknown_encoder_and_fusion": (
        "model: {encoders: {image: cnnn}, fusion: blend}\n",
        [],
        [
            r"^model\.encoders\.image\.name: unknown encoder 'cnnn' \(allowed: .*\bcnn\b",
            r"^model\.fusion\.name: unknown fusion 'blend' \(allowed: .*\bconcat\b",
        ],
    ),
    "unknown_head_and_interaction": (
        "model: {encoders: {image: cnn}, head: softmax, interaction: magic}\n",
        [],
        [r"^model\.head\.name: unknown head 'softmax'", r"^model\.interaction\.name: unknown"],
    ),
    "unknown_dataset": (
        GOOD + "data: {name: imagenet}\n",
        [],
        [r"^data\.name: unknown dataset 'imagenet' \(allowed: .*\bsynthetic\b"],
    ),
    "unknown_manifest_modality_kind": (
        GOOD + MANIFEST.replace("kind: text", "kind: smell") + "}\n",
        [],
        [
            r"^data\.modalities\.x\.kind: Input should be "
            r"'text', 'image', 'audio', 'video' or 'tabular'"
        ],
    ),
    "unknown_bad_rows_policy": (
        GOOD + MANIFEST + ", bad_rows: maybe}\n",
        [],
        [r"^data\.bad_rows: Input should be 'error' or 'skip' \(got 'maybe'\)"],
    ),
    "path_separator_in_name": (GOOD + "name: a/b\n", [], [r"^name: .*path separators"]),
    "several_problems_at_once": (
        GOOD + "seed: x\ntrain: {lr: 0, batch_size: 0}\n",
        [],
        [r"^seed: ", r"^train\.lr: ", r"^train\.batch_size: "],
    ),
    "yaml_syntax_error": (
        "model: {encoders: [\n",
        [],
        [r"^YAML syntax error at line 2, column 1: "],
    ),
    "yaml_mapping_in_scalar": ("model: a: b\n", [], [r"^YAML syntax error at line 1, column 9"]),
    "yaml_tab_indent": ("model:\n\tencoders: 1\n", [], [r"^YAML syntax error at line 2.*'\\t'"]),
    "yaml_unknown_python_tag": (
        GOOD + "name: !!python/object:os.system x\n",
        [],
        [r"^YAML syntax error at line 2.*python/object"],
    ),
    "yaml_int_tag_on_text": (
        GOOD + "seed: !!int x\n",
        [],
        [r"^a YAML value cannot be built \(ValueError: .*\); check explicit tags"],
    ),
    "yaml_int_tag_without_value": (
        GOOD + "seed: !!int\n",
        [],
        [r"^a YAML value cannot be built \(IndexError: "],
    ),
    "yaml_bool_tag_on_text": (GOOD + "seed: !!bool x\n", [], [r"^a YAML value cannot be built"]),
    "yaml_bad_timestamp": (
        GOOD + "name: !!timestamp 2001-13-45\n",
        [],
        [r"^a YAML value cannot be built \(ValueError: month must be in 1\.\.12\)"],
    ),
    "yaml_nested_too_deeply": (
        "model: " + "[" * 1000 + "]" * 1000 + "\n",
        [],
        [r"^YAML is nested too deeply$"],
    ),
    "list_at_top_level": ("- seed: 1\n- model: 2\n", [], [r"must hold a mapping at top level"]),
    "scalar_at_top_level": ("42\n", [], [r"must hold a mapping at top level"]),
    "non_utf8_file": (b"name: caf\xe9\n" + GOOD.encode(), [], [r"^the file is not UTF-8 text$"]),
    "non_string_key": ("1: 2\n" + GOOD, [], [r"^1: Keys should be strings"]),
    "override_without_value": (GOOD, ["train.max_epochs"], [r"expected dotted\.key=value"]),
    "override_into_a_scalar": (
        GOOD + "seed: 3\n",
        ["seed.x=1"],
        [r"^override 'seed\.x=1': seed is not a mapping"],
    ),
    "override_with_bad_yaml": (GOOD, ["train.lr=[1"], [r"value is not valid YAML"]),
    "override_with_bad_tag": (
        GOOD,
        ["train.lr=!!float x"],
        [r"^override 'train\.lr=!!float x': a YAML value cannot be built"],
    ),
    "override_out_of_range": (GOOD, ["train.batch_size=0"], [r"^train\.batch_size: .*\(got 0\)"]),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_config(tmp_path: Path, name: str) -> None:
    text, overrides, expected = BAD_CONFIGS[name]
    path = tmp_path / "exp.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    error = info.value
    message = str(error)
    source = "command line" if error.source == "command line" else str(path)
    assert error.source.startswith(source)
    assert message.startswith(f"{error.source}: invalid configuration ")
    assert message.endswith("fix: edit the file or the key=value override named above")
    for pattern in expected:
        assert any(re.search(pattern, p) for p in error.problems), (pattern, error.problems)
    assert len(error.problems) == len(expected), error.problems  # nothing else, nothing twice
    assert "Traceback" not in message


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"file not found: {path}"]
    assert info.value.source == str(path)
