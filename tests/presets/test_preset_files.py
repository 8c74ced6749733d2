"""The preset package (polymodal/presets): names, one-line descriptions, loading one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import polymodal.presets as presets
from polymodal.errors import ConfigError
from polymodal.presets import load_preset, preset_description, preset_names, preset_text

FOLDER = Path(presets.__file__).parent
SUPERVISED = ["early", "late", "tfn", "lmf", "gated", "graph", "bilinear", "mult", "mmbt", "coattn"]
UNIMODAL = ["image-only", "audio-only", "text-only"]


def test_preset_names_lists_every_yaml() -> None:
    assert preset_names() == sorted([*SUPERVISED, *UNIMODAL, "clip", "moco", "dual-encoder"])
    assert preset_names() == sorted(p.stem for p in FOLDER.glob("*.yaml"))


def test_unknown_preset_lists_the_names() -> None:
    with pytest.raises(ConfigError) as caught:
        load_preset("no-such-preset")
    assert "no-such-preset" in caught.value.problems[0]
    assert "early, gated, graph" in caught.value.problems[0]


def test_load_preset_returns_a_fresh_mapping() -> None:
    first = load_preset("early")
    first["fusion"]["name"] = "changed"
    assert load_preset("early")["fusion"]["name"] == "concat"


def test_load_preset_is_the_yaml_of_the_file() -> None:
    text = (FOLDER / "tfn.yaml").read_text(encoding="utf-8")
    assert preset_text("tfn") == text
    assert load_preset("tfn") == yaml.safe_load(text)


def test_description_is_the_first_sentence_of_the_leading_comment() -> None:
    assert preset_description("tfn") == (
        "Tensor Fusion Network (Zadeh et al. 2017), outer product of the projected features."
    )
    # a sentence over two comment lines is joined into one line
    assert preset_description("mmbt") == (
        "one single-stream transformer over every modality's tokens (MMBT, Kiela et al. 2019), "
        "then concat."
    )
    for name in preset_names():
        line = preset_description(name)
        assert line, name
        assert "\n" not in line, name
        assert not line.startswith(f"{name}:"), name


def test_a_description_key_wins_and_is_not_part_of_the_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.yaml").write_text(
        "# mine: the comment.\ndescription: from the key\nfusion: {name: concat}\n", "utf-8"
    )
    monkeypatch.setattr(presets, "_folder", lambda: tmp_path)
    assert preset_names() == ["mine"]
    assert preset_description("mine") == "from the key"
    assert load_preset("mine") == {"fusion": {"name": "concat"}}


def test_importing_presets_does_not_import_torch() -> None:
    code = (
        "import sys, polymodal.presets as p; p.load_preset('clip'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
