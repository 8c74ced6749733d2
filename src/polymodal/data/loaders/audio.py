"""Decode an audio file into a mono float32 waveform, resampled to a target rate.

Decoding uses soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, ...). A file that cannot be used
(missing, empty, not decodable, truncated, or with no samples) raises
:class:`~polymodal.errors.DataError` naming the path and what to do; nothing is padded or
guessed.
"""

from __future__ import annotations

import math
import struct
from os import PathLike
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly
from torch import Tensor

from polymodal.errors import DataError

_REPLACE = "re-export or re-download the file, or remove it from the dataset"


def load_audio(path: str | PathLike[str], sample_rate: int | None) -> Tensor:
    """Read an audio file as a mono waveform.

    Channels are averaged. When ``sample_rate`` differs from the file's rate, the waveform is
    resampled with ``scipy.signal.resample_poly(x, up, down)`` where ``up / down`` is the reduced
    ratio ``sample_rate / file_rate`` (polyphase filtering with a Kaiser window).

    Args:
        path: the audio file.
        sample_rate: target rate in Hz; None keeps the file's rate.

    Returns:
        float32 ``[L]``, samples in [-1, 1] for integer PCM files.

    Raises:
        DataError: the file is missing, empty, not decodable, truncated (a WAV whose ``data``
            chunk is shorter than its header says), or holds no samples.
    """
    file = Path(path)
    where = str(file)
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz or None, got {sample_rate}")
    if not file.is_file():
        raise DataError("audio file not found", where=where, fix="check the path")
    if file.stat().st_size == 0:
        raise DataError("audio file is empty (0 bytes)", where=where, fix=_REPLACE)
    _check_wav_complete(file)
    try:
        data, file_rate = sf.read(file, dtype="float32", always_2d=True)  # [L, C]
    except sf.SoundFileError as error:
        raise DataError(
            f"cannot decode audio file ({error})",
            where=where,
            fix=f"make sure it is an audio file soundfile can read (WAV, FLAC, OGG); {_REPLACE}",
        ) from error
    if data.shape[0] == 0:
        raise DataError("audio file holds no samples", where=where, fix=_REPLACE)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]  # [L]
    if sample_rate is not None and sample_rate != file_rate:
        mono = resample(mono, int(file_rate), sample_rate)
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))


def resample(waveform: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample ``waveform [..., L]`` from ``orig_rate`` to ``new_rate`` Hz along the last axis.

    Uses ``scipy.signal.resample_poly`` with ``up = new_rate / g`` and ``down = orig_rate / g``,
    ``g = gcd(new_rate, orig_rate)``; the output has ``ceil(L * up / down)`` samples.
    """
    if orig_rate == new_rate:
        return waveform
    g = math.gcd(int(new_rate), int(orig_rate))
    out = resample_poly(waveform, int(new_rate) // g, int(orig_rate) // g, axis=-1)
    return out.astype(np.float32, copy=False)


def _check_wav_complete(file: Path) -> None:
    """Raise when a RIFF/WAVE file's ``data`` chunk is shorter than its header declares.

    libsndfile reads such a file without complaint (it returns the samples that are there), so
    a download cut short would otherwise pass as a shorter recording. Other formats, and WAVs
    whose declared size is a streaming placeholder (0 or 0xFFFFFFFF), are left to the decoder.
    """
    size = file.stat().st_size
    with file.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if 0 < chunk_size < 0xFFFFFFFF and available < chunk_size:
                    raise DataError(
                        f"audio file is truncated: its data chunk declares {chunk_size} bytes "
                        f"but only {available} are present",
                        where=str(file),
                        fix=_REPLACE,
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
