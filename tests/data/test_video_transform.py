"""Frame sampling (uniform, rate) and per-frame resize / normalisation of videos."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.data.transforms.image import ImageTransform
from polymodal.data.transforms.video import (
    VideoTransform,
    rate_indices,
    sample_indices,
    uniform_indices,
)
from polymodal.errors import DataError


@pytest.mark.parametrize(("count", "n"), [(16, 4), (75, 8), (10, 10), (3, 7), (1, 5), (100, 1)])
def test_uniform_indices_are_segment_centres(count, n):
    expected = [min(count - 1, math.floor((i + 0.5) * count / n)) for i in range(n)]
    got = uniform_indices(count, n)
    assert got == expected
    assert len(got) == n
    assert got == sorted(got)
    if n <= count:
        assert len(set(got)) == n  # no frame twice while there are enough


def test_uniform_indices_of_a_known_case():
    assert uniform_indices(16, 4) == [2, 6, 10, 14]
    assert uniform_indices(2, 4) == [0, 0, 1, 1]


def test_rate_indices_pick_the_frame_on_screen():
    times = [k / 8 for k in range(16)]  # 8 fps, 2 s
    assert rate_indices(times, fps=4.0, duration=2.0) == [0, 2, 4, 6, 8, 10, 12, 14]
    # t = 0, 1/3, 2/3, ... -> the last frame shown at or before t: floor(8 t)
    assert rate_indices(times, fps=3.0, duration=2.0) == [0, 2, 5, 8, 10, 13]
    assert rate_indices(times, fps=16.0, duration=2.0) == [k // 2 for k in range(32)]
    assert rate_indices(times, fps=4.0, duration=2.0, num_frames=3) == [0, 2, 4]


def test_rate_indices_follow_uneven_frame_times():
    times = [0.0, 0.1, 0.5, 0.55, 1.2]  # variable frame rate
    got = rate_indices(times, fps=4.0, duration=1.3)
    expected = [max(i for i, t in enumerate(times) if t <= k / 4 + 1e-9) for k in range(6)]
    assert got == expected == [0, 1, 2, 3, 3, 4]


def test_sampling_options_are_checked():
    times = [0.0, 0.5]
    assert sample_indices(times, 1.0, sampling="uniform", num_frames=None, fps=None) == [0, 1]
    with pytest.raises(DataError, match="needs fps"):
        sample_indices(times, 1.0, sampling="rate", num_frames=None, fps=None)
    with pytest.raises(DataError, match="frame times"):
        sample_indices(times, None, sampling="rate", num_frames=None, fps=2.0)
    with pytest.raises(DataError, match="unknown frame sampling"):
        sample_indices(times, 1.0, sampling="random", num_frames=2, fps=None)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="num_frames"):
        uniform_indices(5, 0)
    with pytest.raises(DataError, match="fps"):
        rate_indices(times, 0.0, 1.0)


def test_video_transform_equals_the_image_transform_per_frame():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(5, 3, 20, 14, generator=g)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    out = VideoTransform((8, 10), mean=mean, std=std)(frames)
    assert out.shape == (5, 3, 8, 10)
    assert out.dtype == torch.float32
    image = ImageTransform((8, 10), mean=mean, std=std)
    for t in range(5):
        torch.testing.assert_close(out[t], image(frames[t]), rtol=0, atol=0)


def test_video_transform_resizes_like_pillow_and_normalises_by_hand():
    rng = np.random.default_rng(1)
    pixels = rng.uniform(0, 1, size=(2, 24, 32)).astype(np.float32)  # two grey frames
    frames = torch.from_numpy(pixels).unsqueeze(1)  # [2, 1, 24, 32]
    out = VideoTransform((12, 16), mean=[0.5], std=[0.25])(frames)
    for t in range(2):
        # Pillow takes (width, height); mode F keeps float values
        small = Image.fromarray(pixels[t], mode="F").resize((16, 12), Image.BILINEAR)
        reference = (np.asarray(small) - 0.5) / 0.25
        np.testing.assert_allclose(out[t, 0].numpy(), reference, atol=1e-5)


def test_video_transform_rejects_bad_input():
    with pytest.raises(DataError, match=r"\[T, C, H, W\]"):
        VideoTransform((4, 4))(torch.zeros(3, 8, 8))
    with pytest.raises(DataError, match="at least one frame"):
        VideoTransform((4, 4))(torch.zeros(0, 3, 8, 8))
