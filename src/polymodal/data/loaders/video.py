"""Decode a video file (PyAV) or a folder of frame images into sampled frames, and a clip's audio.

Frames come back as float32 ``[T, C, H, W]`` in [0, 1] (8-bit value / 255), ``T`` the number of
sampled frames. Which frames are kept is decided by
:func:`polymodal.data.transforms.video.sample_indices` (``uniform`` or ``rate``) from the clip's
timeline, *before* any frame is converted, so only the kept frames are ever held in memory:

- video file: the container is demuxed once without decoding to read every frame's presentation
  time (packet timestamps); the stream is then decoded once, in order, converting to RGB only the
  kept frames and stopping after the last one. Streams whose packets carry no timestamps (or whose
  decoder does not give back the packets' timestamps) are decoded twice instead: once to read the
  frame times, once to keep frames.
- folder of frames: image files (``.png``, ``.jpg``, ...; hidden files ignored) in natural order
  of their names (``f2.png`` before ``f10.png``; the same as plain order for zero-padded names),
  one frame each, at ``folder_fps`` frames per second; only the kept files are decoded, with
  :func:`polymodal.data.loaders.image.load_image`.

Reading video files needs PyAV (the ``[video]`` extra: ``pip install 'polymodal[video]'``).
"""

from __future__ import annotations

import re
from fractions import Fraction
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from polymodal.data.loaders.audio import resample
from polymodal.data.loaders.image import load_image
from polymodal.data.transforms.video import SamplingKind, sample_indices
from polymodal.errors import DataError

if TYPE_CHECKING:
    import av

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_REPLACE = "re-export or re-download the file, or remove it from the dataset"


def require_av() -> Any:
    """The ``av`` module (PyAV), or a :class:`DataError` saying how to install it."""
    try:
        import av
    except ImportError:
        raise DataError(
            "reading video files needs PyAV, which is not installed",
            fix="pip install 'polymodal[video]'",
        ) from None
    return av


def load_video(
    path: str | PathLike[str],
    *,
    num_frames: int | None = None,
    fps: float | None = None,
    sampling: SamplingKind = "uniform",
    channels: Literal[1, 3] = 3,
    folder_fps: float | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """Decode the sampled frames of a video file or of a folder of frame images.

    Args:
        path: a video file (any container and codec FFmpeg reads: MP4, MKV, AVI, MPEG, WebM, ...)
            or a folder of frame images.
        num_frames: ``uniform``: how many frames (None: every frame); ``rate``: the most frames
            kept (None: no cap).
        fps: ``rate`` only: frames per second to keep.
        sampling: ``uniform`` (``num_frames`` evenly spread) or ``rate`` (``fps`` frames per
            second); see :mod:`polymodal.data.transforms.video`.
        channels: 3 (RGB) or 1 (grey, converted from RGB like Pillow's mode ``L``, as
            :func:`~polymodal.data.loaders.image.load_image` does).
        folder_fps: frame rate of a folder of frames (ignored for video files, whose rate is in
            the file); None leaves the folder's times unknown, which ``rate`` sampling refuses.

    Returns:
        ``(frames, info)``: frames float32 ``[T, C, H, W]`` in [0, 1]; info holds ``fps`` (the
        clip's frame rate), ``duration`` (seconds: the last frame's time plus ``1 / fps``, i.e.
        ``frame_count / fps`` at a constant rate),
        ``frame_count`` (frames in the clip), ``timestamps`` (seconds from the first frame, one
        per returned frame) and ``indices`` (clip frame index of each returned frame).
        ``fps``, ``duration`` and ``timestamps`` are None for a folder without ``folder_fps``.

    Raises:
        DataError: the path is missing, empty, not decodable, has no video stream or no frame,
            or the sampling options are invalid; the message names the path and the fix.
    """
    source = Path(path)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}", fix="use channels: 1 or 3")
    if source.is_dir():
        return _load_folder(source, num_frames, fps, sampling, channels, folder_fps)
    _check_file(source, "video")
    return _load_file(source, num_frames, fps, sampling, channels)


def load_video_audio(path: str | PathLike[str], sample_rate: int | None) -> Tensor:
    """Read the audio track of a video file as a mono waveform.

    The first audio stream is decoded to float (integer PCM scaled to [-1, 1], as soundfile
    does), channels are averaged, and the waveform is resampled to ``sample_rate`` with
    :func:`polymodal.data.loaders.audio.resample` (polyphase, as
    :func:`~polymodal.data.loaders.audio.load_audio` does), so a clip can feed an audio encoder
    exactly like a sound file.

    Args:
        path: the video file.
        sample_rate: target rate in Hz; None keeps the track's rate.

    Returns:
        float32 ``[L]``, starting at the first decoded sample of the track.

    Raises:
        DataError: the file is missing, empty, not decodable, or has no audio track.
    """
    source = Path(path)
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz or None, got {sample_rate}")
    _check_file(source, "video")
    av = require_av()
    chunks: list[np.ndarray] = []
    with _open(source) as container:
        if not container.streams.audio:
            raise DataError(
                "video file has no audio track",
                where=str(source),
                fix="use a clip with sound, or drop the audio modality for it",
            )
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate)
        converter = av.AudioResampler(format="fltp")  # same layout and rate, planar float
        try:
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray() for out in converter.resample(frame))  # [C, n]
            chunks.extend(out.to_ndarray() for out in converter.resample(None))  # flush
        except av.FFmpegError as error:
            raise _undecodable(source, error) from None
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise DataError("the audio track holds no samples", where=str(source), fix=_REPLACE)
    planar = np.concatenate(chunks, axis=1)  # [C, L]
    mono = planar.mean(axis=0) if planar.shape[0] > 1 else planar[0]  # [L]
    if sample_rate is not None and sample_rate != rate:
        mono = resample(mono, rate, sample_rate)
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))


# ------------------------------------------------------------------------------------------------
# Video files
# ------------------------------------------------------------------------------------------------


def _check_file(source: Path, what: str) -> None:
    if not source.exists():
        raise DataError(f"{what} file not found", where=str(source), fix="check the path")
    if not source.is_file():
        raise DataError(f"{what} path is not a file", where=str(source), fix="check the path")
    if source.stat().st_size == 0:
        raise DataError(f"{what} file is empty (0 bytes)", where=str(source), fix=_REPLACE)


def _undecodable(source: Path, error: Exception) -> DataError:
    return DataError(
        f"cannot decode video file ({error})",
        where=str(source),
        fix=f"check that it is a video FFmpeg can read (MP4, MKV, AVI, MPEG, ...); {_REPLACE}",
    )


def _open(source: Path) -> av.container.InputContainer:
    av = require_av()
    try:
        return av.open(str(source), mode="r")
    except (av.FFmpegError, OSError, ValueError) as error:
        raise _undecodable(source, error) from None


def _video_stream(container: av.container.InputContainer, source: Path) -> Any:
    if not container.streams.video:
        raise DataError(
            "file has no video stream",
            where=str(source),
            fix="give a video file (an audio-only file belongs to an audio modality)",
        )
    return container.streams.video[0]


def _packet_pts(source: Path) -> tuple[list[int] | None, Fraction, float | None]:
    """Presentation timestamps of every video packet, sorted (None when some packet has none),
    the stream's time base and its declared average frame rate. Demuxes without decoding."""
    av = require_av()
    with _open(source) as container:
        stream = _video_stream(container, source)
        time_base = stream.time_base or Fraction(1, 1)
        rate = stream.average_rate or stream.guessed_rate
        pts: list[int] | None = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                if packet.pts is None:
                    pts = None
                    break
                pts.append(int(packet.pts))
        except av.FFmpegError as error:
            raise _undecodable(source, error) from None
    return (None if pts is None else sorted(pts)), time_base, (float(rate) if rate else None)


def _decode(source: Path, wanted: set[int], by_pts: bool) -> dict[int, np.ndarray]:
    """Decode the stream once and return the RGB uint8 ``[H, W, 3]`` frames whose key is in
    ``wanted``, stopping after the last one. The key of a frame is its pts, or (``by_pts``
    False) its ordinal in presentation order."""
    av = require_av()
    found: dict[int, np.ndarray] = {}
    with _open(source) as container:
        stream = _video_stream(container, source)
        stream.thread_type = "AUTO"
        try:
            for ordinal, frame in enumerate(container.decode(stream)):
                key = frame.pts if by_pts else ordinal
                if key in wanted and key not in found:
                    found[key] = frame.to_ndarray(format="rgb24")  # [H, W, 3]
                    if len(found) == len(wanted):
                        break
        except av.FFmpegError as error:
            raise _undecodable(source, error) from None
    return found


def _decoded_times(source: Path, time_base: Fraction, rate: float | None) -> list[float]:
    """Times of the frames, in seconds from the first, by decoding the stream (fallback)."""
    av = require_av()
    times: list[float] = []
    with _open(source) as container:
        stream = _video_stream(container, source)
        try:
            for ordinal, frame in enumerate(container.decode(stream)):
                if frame.pts is not None:
                    times.append(float(frame.pts * time_base))
                else:
                    times.append(ordinal / rate if rate else float(ordinal))
        except av.FFmpegError as error:
            raise _undecodable(source, error) from None
    return [t - times[0] for t in times] if times else []


def _frame_rate(times: list[float], declared: float | None) -> float:
    if declared and declared > 0:
        return declared
    if len(times) > 1 and times[-1] > times[0]:
        return float(1.0 / np.median(np.diff(times)))
    return 1.0


def _load_file(
    source: Path,
    num_frames: int | None,
    fps: float | None,
    sampling: SamplingKind,
    channels: Literal[1, 3],
) -> tuple[Tensor, dict[str, Any]]:
    pts, time_base, declared = _packet_pts(source)
    frames: dict[int, np.ndarray] = {}
    keys: list[int] = []
    if pts:
        times = [float((p - pts[0]) * time_base) for p in pts]
        rate = _frame_rate(times, declared)
        indices = _sampled(source, times, rate, sampling, num_frames, fps)
        keys = [pts[i] for i in indices]
        frames = _decode(source, set(keys), by_pts=True)
    if not pts or len(frames) < len(set(keys)):  # no timestamps, or the decoder changed them
        times = _decoded_times(source, time_base, declared)
        if not times:
            raise DataError("video stream holds no frames", where=str(source), fix=_REPLACE)
        rate = _frame_rate(times, declared)
        indices = _sampled(source, times, rate, sampling, num_frames, fps)
        keys = list(indices)
        frames = _decode(source, set(keys), by_pts=False)
        if len(frames) < len(set(keys)):
            raise DataError(
                "the video stream ended before the frames its timeline promised",
                where=str(source),
                fix=_REPLACE,
            )
    images = [_channels(frames[k], channels) for k in keys]
    info = {
        "fps": rate,
        "duration": times[-1] + 1.0 / rate,
        "frame_count": len(times),
        "timestamps": [times[i] for i in indices],
        "indices": list(indices),
    }
    return _stack(images, source), info


def _sampled(
    source: Path,
    times: list[float],
    rate: float,
    sampling: SamplingKind,
    num_frames: int | None,
    fps: float | None,
) -> list[int]:
    try:
        duration = times[-1] + 1.0 / rate
        return sample_indices(times, duration, sampling=sampling, num_frames=num_frames, fps=fps)
    except DataError as error:
        raise DataError(error.what, where=str(source), fix=error.fix) from None


def _channels(rgb: np.ndarray, channels: Literal[1, 3]) -> np.ndarray:
    """``[H, W, 3]`` uint8 -> ``[C, H, W]`` uint8; grey as Pillow's ``L`` conversion."""
    if channels == 1:
        return np.asarray(Image.fromarray(rgb).convert("L"))[None]  # [1, H, W]
    return rgb.transpose(2, 0, 1)  # [H, W, 3] -> [3, H, W]


def _stack(images: list[np.ndarray], source: Path) -> Tensor:
    """``T`` x uint8 ``[C, H, W]`` -> float32 ``[T, C, H, W]`` in [0, 1]."""
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataError(
            f"frames of different sizes in one clip: {sorted(shapes)}",
            where=str(source),
            fix="re-encode the clip at one frame size",
        )
    stacked = torch.from_numpy(np.stack(images))  # [T, C, H, W] uint8
    return stacked.to(torch.float32) / 255.0


# ------------------------------------------------------------------------------------------------
# Folders of frames
# ------------------------------------------------------------------------------------------------


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key comparing digit runs as numbers: ``f2`` < ``f10``."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name)]


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a folder in natural order of their names (hidden files ignored)."""
    files = [
        f
        for f in folder.iterdir()
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=lambda f: (_natural_key(f.name), f.name))


def _load_folder(
    folder: Path,
    num_frames: int | None,
    fps: float | None,
    sampling: SamplingKind,
    channels: Literal[1, 3],
    folder_fps: float | None,
) -> tuple[Tensor, dict[str, Any]]:
    files = frame_files(folder)
    if not files:
        raise DataError(
            "folder holds no frame images",
            where=str(folder),
            fix=f"put one image per frame in it ({', '.join(sorted(IMAGE_SUFFIXES))})",
        )
    if folder_fps is not None and not folder_fps > 0:
        raise DataError(f"folder_fps must be > 0, got {folder_fps}", where=str(folder))
    times = [i / folder_fps for i in range(len(files))] if folder_fps else [0.0] * len(files)
    duration = len(files) / folder_fps if folder_fps else None
    try:
        indices = sample_indices(times, duration, sampling=sampling, num_frames=num_frames, fps=fps)
    except DataError as error:
        raise DataError(error.what, where=str(folder), fix=error.fix) from None
    decoded = {i: load_image(files[i], channels) for i in sorted(set(indices))}  # [C, H, W]
    shapes = {tuple(im.shape) for im in decoded.values()}
    if len(shapes) > 1:
        raise DataError(
            f"frame images of different sizes: {sorted(shapes)}",
            where=str(folder),
            fix="give every frame of a clip the same size",
        )
    info = {
        "fps": folder_fps,
        "duration": duration,
        "frame_count": len(files),
        "timestamps": [times[i] for i in indices] if folder_fps else None,
        "indices": list(indices),
    }
    return torch.stack([decoded[i] for i in indices]), info
