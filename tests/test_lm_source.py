"""Where ``causal_lm`` loads its LM from, and the GGUF -> safetensors cache: written once per
file fingerprint, atomically, only under the folder the caller names.

The GGUF reader itself is exercised on the real SmolLM2 file (test_causal_lm_smollm2.py); here a
stand-in ``.gguf`` file of arbitrary bytes is "converted" by loading the tiny local Llama, which
is enough to test every decision of the cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from polymodal import lm_source as source
from polymodal.errors import CheckpointError


@pytest.fixture
def fake_gguf(tmp_path: Path, tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A file ``models/tiny.gguf`` whose "conversion" loads the tiny Llama; returns the list
    of GGUF files converted (one entry per conversion)."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.gguf").write_bytes(b"GGUF version 1")
    converted: list[str] = []
    real = source._from_pretrained

    def from_pretrained(folder: str, **kwargs: Any) -> tuple[Any, Any]:
        if "gguf_file" not in kwargs:
            return real(folder, **kwargs)
        converted.append(str(Path(folder) / kwargs["gguf_file"]))
        return real(str(tiny_lm_dir), dtype=kwargs["dtype"])

    monkeypatch.setattr(source, "_from_pretrained", from_pretrained)
    monkeypatch.delenv(source.CACHE_ENV, raising=False)
    return converted


def _logits(lm: Any) -> torch.Tensor:
    return lm(input_ids=torch.tensor([[0, 3, 4, 5]])).logits


def test_a_gguf_file_is_converted_once_then_read_from_the_cache(
    tmp_path: Path, fake_gguf: list[str]
) -> None:
    gguf, cache = tmp_path / "models" / "tiny.gguf", tmp_path / "cache"
    first = source.load_causal_lm(str(gguf), cache_dir=str(cache))
    assert (first.origin, fake_gguf) == ("gguf", [str(gguf)])
    entry = cache / f"tiny-{source.fingerprint(gguf)[:16]}"
    assert first.folder == entry
    assert {"config.json", "model.safetensors", "tokenizer.json", source.MARKER} <= {
        p.name for p in entry.iterdir()
    }
    assert [p.name for p in cache.iterdir()] == [entry.name]  # no staging folder left
    second = source.load_causal_lm(str(gguf), cache_dir=str(cache))
    assert (second.origin, second.folder, len(fake_gguf)) == ("cache", entry, 1)
    assert torch.equal(_logits(first.lm), _logits(second.lm))
    assert second.tokenizer.encode("the cat") == first.tokenizer.encode("the cat") == [3, 4]


def test_a_changed_file_gets_a_new_entry(tmp_path: Path, fake_gguf: list[str]) -> None:
    gguf, cache = tmp_path / "models" / "tiny.gguf", tmp_path / "cache"
    source.load_causal_lm(str(tmp_path / "models"), gguf_file="tiny.gguf", cache_dir=str(cache))
    gguf.write_bytes(b"GGUF version 2")
    again = source.load_causal_lm(str(gguf), cache_dir=str(cache))
    assert again.origin == "gguf"
    assert len(fake_gguf) == 2
    assert len(list(cache.iterdir())) == 2


def test_the_environment_variable_names_the_cache(
    tmp_path: Path, fake_gguf: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(source.CACHE_ENV, str(tmp_path / "env-cache"))
    source.load_causal_lm(str(tmp_path / "models" / "tiny.gguf"))
    assert source.load_causal_lm(str(tmp_path / "models" / "tiny.gguf")).origin == "cache"
    assert len(list((tmp_path / "env-cache").iterdir())) == 1


def test_without_a_cache_folder_nothing_is_written(tmp_path: Path, fake_gguf: list[str]) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for _ in range(2):
        assert source.load_causal_lm(str(tmp_path / "models" / "tiny.gguf")).origin == "gguf"
    assert len(fake_gguf) == 2
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_failed_write_leaves_no_entry(
    tmp_path: Path, fake_gguf: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(source, "_write_entry_files", broken)
    with pytest.raises(OSError, match="disk full"):
        source.load_causal_lm(str(tmp_path / "models" / "tiny.gguf"), cache_dir=tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []


def test_references_resolve_to_a_folder_and_a_gguf_name(tmp_path: Path, tiny_lm_dir: Path) -> None:
    assert source.resolve_source(str(tiny_lm_dir)) == (str(tiny_lm_dir.resolve()), None)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    assert source.resolve_source(str(gguf)) == (str(tmp_path.resolve()), "m.gguf")
    assert source.resolve_source(str(tmp_path), "m.gguf") == (str(tmp_path.resolve()), "m.gguf")
    assert source.resolve_source("org/model", "q.gguf") == ("org/model", "q.gguf")
    with pytest.raises(CheckpointError, match=r"no GGUF file 'other\.gguf'"):
        source.resolve_source(str(tmp_path), "other.gguf")
    with pytest.raises(CheckpointError, match=r"must be a \.gguf file"):
        source.resolve_source(str(tiny_lm_dir / "config.json"))
    with pytest.raises(CheckpointError, match="not installed"):
        source.resolve_source("package:no_such_package_xyz/model.gguf")


def test_the_tokenizer_comes_from_a_folder_or_the_gguf_cache_entry(
    tmp_path: Path, tiny_lm_dir: Path, fake_gguf: list[str]
) -> None:
    folder_tok = source.load_lm_tokenizer(str(tiny_lm_dir))
    assert folder_tok("the cat")["input_ids"][-2:] == [3, 4]
    gguf = str(tmp_path / "models" / "tiny.gguf")
    loaded = source.load_causal_lm(gguf, cache_dir=tmp_path / "cache")  # writes the entry
    assert len(fake_gguf) == 1
    cached = source.load_lm_tokenizer(gguf, cache_dir=tmp_path / "cache")
    assert len(fake_gguf) == 1  # read from the entry: no conversion
    assert cached.get_vocab() == loaded.tokenizer.get_vocab()
