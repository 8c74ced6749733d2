"""The `polymodal` command on bad inputs: exit code 2, one message (what, where, fix), no
traceback; ``--debug`` lets the exception itself through."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_corpus import write_manifest
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.errors import ConfigError, DataError, PolymodalError, UnknownComponentError

runner = CliRunner()
MODEL = "model: {encoders: {x: text_gru}}\ntrain: {max_epochs: 1, progress: false}\n"


def _manifest_config(media: Path, rows: list[dict[str, object]], kind: str = "text") -> str:
    manifest = write_manifest(rows, media / "m.jsonl")
    return (
        f"data: {{name: manifest, path: '{manifest}', modalities: {{x: {{kind: {kind}}}}}, "
        "label: label}\n" + MODEL
    )


def _rows(bad: dict[str, object]) -> list[dict[str, object]]:
    return [
        {"id": "a", "split": "train", "x": "red", "label": "p"},
        {"id": "b", "split": "train", "x": "blue", "label": "q"},
        {"id": "c", "split": "train", "x": "green", "label": "p", **bad},
    ]


# name: (config text from the media folder, extra arguments, expected message parts, error type)
Case = tuple[Callable[[Path], str], list[str], list[str], type[PolymodalError]]
CASES: dict[str, Case] = {
    "unknown_key": (
        lambda media: MODEL + "trian: {}\n",
        [],
        ["invalid configuration (1 problem)", "trian: unknown key; did you mean 'train'?"],
        ConfigError,
    ),
    "yaml_syntax_error": (
        lambda media: "model: {encoders: [\n",
        [],
        ["YAML syntax error at line 2, column 1"],
        ConfigError,
    ),
    "non_mapping_top_level": (
        lambda media: "- 1\n- 2\n",
        [],
        ["the file must hold a mapping at top level"],
        ConfigError,
    ),
    "override_with_bad_tag": (
        lambda media: MODEL,
        ["train.lr=!!float x"],
        ["override 'train.lr=!!float x': a YAML value cannot be built"],
        ConfigError,
    ),
    "unknown_dataset": (
        lambda media: "data: {name: imagenet}\n" + MODEL,
        [],
        [
            "data.name: unknown dataset 'imagenet' (allowed: caption-summary, captions, digits-av, "
            "hf_dataset, manifest, mmsa, synthetic, translation, translation-pairs)"
        ],
        ConfigError,
    ),
    "manifest_duplicate_id": (
        lambda media: _manifest_config(media, _rows({"id": "a"})),
        [],
        ["1 bad row in the manifest", "row 3 (id 'a'), field 'id': duplicate id", "m.jsonl"],
        DataError,
    ),
    "manifest_path_escaping_folder": (
        lambda media: _manifest_config(media, _rows({"x": "../outside/secret.png"}), "image"),
        [],
        ["row 3 (id 'c'), field 'x', path '../outside/secret.png'", "leads outside"],
        DataError,
    ),
    "manifest_zero_byte_image": (
        lambda media: _manifest_config(media, _rows({"x": "zero.png"}), "image"),
        [],
        ["field 'x', path 'zero.png': image file is empty (0 bytes)"],
        DataError,
    ),
    "manifest_missing_column": (
        lambda media: _manifest_config(media, [{"id": "a", "label": "p"}]),
        [],
        ["column(s) 'x' not found (available columns: id, label)"],
        DataError,
    ),
}


def _invoke(media: Path, name: str, *flags: str) -> tuple[object, Case]:
    case = CASES[name]
    text, extra = case[0](media), case[1]
    config = media / "exp.yaml"
    config.write_text(text, encoding="utf-8")
    args = [*flags, "train", str(config), *extra, "--out", str(media.parent / "run")]
    return runner.invoke(app, args), case


@pytest.mark.parametrize("name", list(CASES))
def test_cli_reports_bad_input_in_one_message(media: Path, name: str) -> None:
    result, (_, _, expected, _) = _invoke(media, name)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    for part in expected:
        assert part in result.output, (part, result.output)
    assert "\nfix: " in result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


@pytest.mark.parametrize("name", ["unknown_key", "override_with_bad_tag", "manifest_duplicate_id"])
def test_cli_debug_shows_the_exception(media: Path, name: str) -> None:
    result, (_, _, expected, error_type) = _invoke(media, name, "--debug")
    assert result.exit_code != 0
    assert type(result.exception) is error_type
    assert expected[-1] in str(result.exception)


def test_cli_unknown_dataset_name_in_datasets_show() -> None:
    result = runner.invoke(app, ["datasets", "show", "imagenet"])
    assert result.exit_code == 2
    assert result.output == (
        "error: unknown dataset 'imagenet'\nfix: use one of: caption-summary, captions, digits-av, "
        "hf_dataset, manifest, mmsa, synthetic, translation, translation-pairs\n"
    )
    debug = runner.invoke(app, ["--debug", "datasets", "show", "imagenet"])
    assert isinstance(debug.exception, UnknownComponentError)


def test_cli_missing_config_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert f"file not found: {tmp_path / 'nope.yaml'}" in result.output
    assert "Traceback" not in result.output
