"""Video preprocessing: which frames to keep (sampling), then per-frame resize and normalisation.

Frame sampling works on a clip's timeline (the presentation times of its frames, in seconds from
the first frame) and returns frame *indices*, so a loader can decode only the frames it keeps:

``uniform``
    ``N`` frames spread evenly over the clip: the centre frame of each of ``N`` equal segments,
    ``index_i = floor((i + 0.5) * F / N)`` for ``i = 0 .. N-1`` over ``F`` frames (the test-time
    sampling of Temporal Segment Networks, Wang et al., ECCV 2016). When ``N > F`` frames repeat,
    so a clip always gives exactly ``N`` frames.
``rate``
    Frames at a fixed rate ``fps``: at times ``t_k = k / fps`` for ``k = 0, 1, ...`` while
    ``t_k < duration``, the frame on screen at ``t_k`` (the last frame whose time is
    ``<= t_k``), capped at the first ``num_frames`` times. A rate above the clip's own repeats
    frames; below it skips frames.

Shapes: ``T`` frames, ``C`` channels, ``H x W`` pixels. One sample of the ``video`` kind is float32
``[T, C, H, W]`` (see :mod:`polymodal.data.schema`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from polymodal.data.transforms.image import ImageTransform
from polymodal.errors import DataError

SamplingKind = Literal["uniform", "rate"]
SAMPLINGS: tuple[str, ...] = ("uniform", "rate")
_TIME_TOLERANCE = 1e-6  # seconds: a frame whose time is within this of t_k counts as on screen


def uniform_indices(frame_count: int, num_frames: int) -> list[int]:
    """Indices of ``num_frames`` frames spread evenly over ``frame_count`` frames.

    ``index_i = floor((i + 0.5) * frame_count / num_frames)``: the centre of segment ``i``.

    Example:
        >>> uniform_indices(16, 4)
        [2, 6, 10, 14]
        >>> uniform_indices(2, 4)
        [0, 0, 1, 1]
    """
    if frame_count < 1:
        raise DataError("cannot sample frames from a clip with no frames")
    if num_frames < 1:
        raise DataError(f"num_frames must be >= 1, got {num_frames}", fix="use e.g. num_frames: 8")
    return [
        min(frame_count - 1, (2 * i + 1) * frame_count // (2 * num_frames))
        for i in range(num_frames)
    ]


def rate_indices(
    timestamps: Sequence[float], fps: float, duration: float, num_frames: int | None = None
) -> list[int]:
    """Indices of the frames on screen at times ``k / fps`` (``k = 0, 1, ...``) before ``duration``.

    Args:
        timestamps: presentation time of every frame of the clip, in seconds, non-decreasing and
            starting at 0 (the first frame).
        fps: sampling rate in frames per second.
        duration: length of the clip in seconds (the last frame's time plus its display time).
        num_frames: keep at most this many (the first ones); None keeps all.

    Example:
        >>> rate_indices([k / 8 for k in range(16)], fps=3.0, duration=2.0)
        [0, 2, 5, 8, 10, 13]
    """
    if not timestamps:
        raise DataError("cannot sample frames from a clip with no frames")
    if not (fps > 0 and math.isfinite(fps)):
        raise DataError(f"fps must be a positive number, got {fps}", fix="use e.g. fps: 5")
    if num_frames is not None and num_frames < 1:
        raise DataError(f"num_frames must be >= 1, got {num_frames}", fix="use e.g. num_frames: 8")
    count = max(1, math.ceil(duration * fps - _TIME_TOLERANCE))  # t_k < duration
    if num_frames is not None:
        count = min(count, num_frames)
    times = list(timestamps)
    return [max(0, bisect.bisect_right(times, k / fps + _TIME_TOLERANCE) - 1) for k in range(count)]


def sample_indices(
    timestamps: Sequence[float],
    duration: float | None,
    *,
    sampling: SamplingKind,
    num_frames: int | None,
    fps: float | None,
) -> list[int]:
    """Indices of the frames to keep from a clip, by ``sampling`` (see the module docs).

    ``uniform`` with ``num_frames=None`` keeps every frame; ``rate`` needs ``fps`` and the clip's
    ``duration``.

    Raises:
        DataError: an unknown sampling, or ``rate`` without ``fps`` or without a known duration.
    """
    if sampling == "uniform":
        if num_frames is None:
            return list(range(len(timestamps)))
        return uniform_indices(len(timestamps), num_frames)
    if sampling == "rate":
        if fps is None:
            raise DataError("sampling 'rate' needs fps", fix="give fps (frames per second to keep)")
        if duration is None:
            raise DataError(
                "sampling 'rate' needs the clip's frame times, which are unknown",
                fix="give the frame rate of a folder of frames (folder_fps), or use uniform "
                "sampling",
            )
        return rate_indices(timestamps, fps, duration, num_frames)
    raise DataError(
        f"unknown frame sampling {sampling!r}", fix=f"use one of: {', '.join(SAMPLINGS)}"
    )


class VideoTransform:
    """Resize (optional) then normalise (optional) every frame: ``[T, C, H, W] -> [T, C, H', W']``.

    Each frame goes through :class:`~polymodal.data.transforms.image.ImageTransform` (bilinear
    resize with antialiasing, then ``(x - mean[c]) / std[c]``), so a video frame is preprocessed
    exactly like an image of the same size; the output is float32.

    Args:
        size: ``(H', W')`` to resize to; None keeps the frames' size.
        mean, std: per-channel statistics; None (both) keeps values in [0, 1].

    Example:
        >>> t = VideoTransform((32, 32), mean=[0.5] * 3, std=[0.25] * 3)
        >>> t(torch.full((4, 3, 64, 48), 0.75)).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
        size: tuple[int, int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        self.image = ImageTransform(size, mean, std)

    @property
    def size(self) -> tuple[int, int] | None:
        return self.image.size

    def __call__(self, frames: Tensor) -> Tensor:
        if frames.ndim != 4:
            raise DataError(
                f"expected video frames [T, C, H, W], got shape {tuple(frames.shape)}",
                fix="load clips with polymodal.data.loaders.video.load_video",
            )
        if frames.shape[0] == 0:
            raise DataError("a video needs at least one frame", fix="check the clip's sampling")
        out = [self.image(frame.float()) for frame in frames]  # T x [C, H', W']
        return torch.stack(out).to(torch.float32)  # [T, C, H', W']
