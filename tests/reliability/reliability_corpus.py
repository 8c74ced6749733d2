"""Builder of the bad-input corpus: small media files, good and broken, written into a folder.

Nothing binary is committed: every test writes the corpus it needs into its own temporary folder
with :func:`write_media`, then manifests over it with :func:`write_manifest`.

Files written by :func:`write_media` (``root`` is the future manifest's folder):

==================  ==============================================================
``ok.png``          8 x 12 RGB PNG, noise (a fixed seed)
``ok.jpg``          8 x 12 RGB JPEG
``trunc.png``       ``ok.png`` cut to half its bytes
``trunc.jpg``       ``ok.jpg`` cut to half its bytes
``zero.png/.jpg``   0 bytes
``ok.wav``          8 kHz mono PCM-16, 800 samples
``r16k.wav``        16 kHz mono PCM-16, 1600 samples (resampled, not an error)
``r44k.wav``        44.1 kHz mono PCM-16, 4410 samples
``stereo.wav``      8 kHz stereo float, 400 frames, left and right differ
``trunc.wav``       ``ok.wav`` cut to half its bytes (header says more)
``zero.wav``        0 bytes
``noise.wav``       bytes that are no audio format
``header.wav``      only the first 30 bytes of ``ok.wav`` (no data chunk)
``ok.txt``          UTF-8 text
``latin1.txt``      "café" in Latin-1 (not UTF-8)
``empty.txt``       0 bytes (present but empty text)
``folder/``         a directory where a file is expected
``../outside/``     ``secret.png`` and ``secret.txt`` *outside* ``root``
``escape.png``      symlink to ``../outside/secret.png``
``loop_a/loop_b``   symlinks pointing at each other
==================  ==============================================================
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
from PIL import Image

from polymodal.data.bundle import DataBundle
from polymodal.registry import DATASETS

OK_WAV_RATE = 8000
WAVE_LENGTHS = {"ok.wav": (800, 8000), "r16k.wav": (1600, 16000), "r44k.wav": (4410, 44100)}


def tone(length: int, rate: int, freq: float = 440.0) -> np.ndarray:
    """A sine of ``freq`` Hz, float32 ``[length]`` at amplitude 0.5."""
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(length) / rate)).astype(np.float32)


def stereo_frames() -> np.ndarray:
    """The two channels of ``stereo.wav``, float32 ``[400, 2]``."""
    left = tone(400, OK_WAV_RATE, 440.0)
    right = 0.25 * tone(400, OK_WAV_RATE, 1000.0)
    return np.stack([left, right], axis=1)  # [L, 2]


def _image_bytes(fmt: str) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, size=(8, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def _wav_bytes(data: np.ndarray, rate: int, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def write_media(root: Path) -> Path:
    """Write the corpus (see the module docstring) into ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    png, jpg = _image_bytes("PNG"), _image_bytes("JPEG")
    wav = _wav_bytes(tone(800, OK_WAV_RATE), OK_WAV_RATE, "PCM_16")
    files: dict[str, bytes] = {
        "ok.png": png,
        "ok.jpg": jpg,
        "trunc.png": png[: len(png) // 2],
        "trunc.jpg": jpg[: len(jpg) // 2],
        "zero.png": b"",
        "zero.jpg": b"",
        "ok.wav": wav,
        "r16k.wav": _wav_bytes(tone(1600, 16000), 16000, "PCM_16"),
        "r44k.wav": _wav_bytes(tone(4410, 44100), 44100, "PCM_16"),
        "stereo.wav": _wav_bytes(stereo_frames(), OK_WAV_RATE, "FLOAT"),
        "trunc.wav": wav[: len(wav) // 2],
        "zero.wav": b"",
        "noise.wav": b"this is not a sound file, only text " * 4,
        "header.wav": wav[:30],
        "ok.txt": b"a small red square\n",
        "latin1.txt": "caf\xe9".encode("latin-1"),
        "empty.txt": b"",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "folder").mkdir(exist_ok=True)
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.png").write_bytes(png)
    (outside / "secret.txt").write_text("secret", encoding="utf-8")
    _symlink(root / "escape.png", outside / "secret.png")
    _symlink(root / "loop_a", root / "loop_b")
    _symlink(root / "loop_b", root / "loop_a")
    return root


def _symlink(link: Path, target: Path) -> None:
    if not link.is_symlink():
        os.symlink(target, link)


def write_manifest(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write ``rows`` as JSONL, CSV (None -> empty cell) or Parquet, by ``path``'s suffix."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows([["" if r.get(c) is None else r[c] for c in columns] for r in rows])
    elif path.suffix == ".parquet":
        table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
        pq.write_table(table, path)
    else:
        raise ValueError(f"unknown manifest suffix {path.suffix!r}")
    return path


def build(path: Path, **params: Any) -> DataBundle:
    """The ``manifest`` dataset of ``path``, through the registry as a config would build it."""
    return DATASETS.create("manifest", seed=0, state=None, path=path, **params)
