"""load_video / load_video_audio: clips written here with PyAV whose frame brightness encodes the
frame index, the real GRID clips, folders of frames, and files that cannot be used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.data.loaders.video import frame_files, load_video, load_video_audio
from polymodal.errors import DataError

av = pytest.importorskip("av")

GRID = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "grid-video"
FRAMES, FPS, STEP = 16, 8, 16  # frame i has every pixel = i * STEP


def write_clip(path: Path, codec: str, *, fmt: str | None = None, audio: bool = False) -> Path:
    """16 frames of 32x32 at 8 fps, frame i uniformly grey at level 16 i; optionally a 440 Hz
    stereo tone of the clip's length at 16 kHz."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.width = stream.height = 32
        stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"  # ffv1 + bgr0: lossless RGB
        sound = None
        if audio:
            sound = out.add_stream("pcm_s16le", rate=16000, layout="stereo")
        for i in range(FRAMES):
            rgb = np.full((32, 32, 3), i * STEP, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if sound is not None:
            t = np.arange(2 * 16000) / 16000.0
            tone = (0.5 * np.sin(2 * np.pi * 440.0 * t) * 32767).astype(np.int16)
            pcm = np.stack([tone, tone // 2], axis=1).reshape(1, -1)  # packed [1, L * 2]
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
            frame.sample_rate = 16000
            for packet in [*sound.encode(frame), *sound.encode()]:
                out.mux(packet)
    return path


def frame_ids(frames: torch.Tensor) -> list[int]:
    """The frame index each decoded frame shows (its mean brightness / STEP)."""
    return (frames.mean(dim=(1, 2, 3)) * 255.0 / STEP).round().int().tolist()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "mkv": write_clip(folder / "lossless.mkv", "ffv1"),
        "mp4": write_clip(folder / "bframes.mp4", "libx264"),  # B-frames: decode order != shown
        "h264": write_clip(folder / "raw.h264", "libx264", fmt="h264"),  # no packet timestamps
    }


@pytest.mark.parametrize("kind", ["mkv", "mp4"])
def test_every_frame_in_order_with_its_time(clips, kind):
    frames, info = load_video(clips[kind])
    assert frames.shape == (16, 3, 32, 32)
    assert frames.dtype == torch.float32
    assert frames.min() >= 0.0
    assert frames.max() <= 1.0
    assert frame_ids(frames) == list(range(16))
    assert info["fps"] == pytest.approx(8.0)
    assert info["frame_count"] == 16
    assert info["duration"] == pytest.approx(2.0)
    assert info["timestamps"] == pytest.approx([i / 8 for i in range(16)])
    assert info["indices"] == list(range(16))


def test_lossless_clip_decodes_exactly(clips):
    frames, _ = load_video(clips["mkv"], num_frames=4)
    expected = torch.tensor([2, 6, 10, 14], dtype=torch.float32) * STEP / 255.0
    torch.testing.assert_close(frames, expected.view(4, 1, 1, 1).expand(4, 3, 32, 32))


@pytest.mark.parametrize("kind", ["mkv", "mp4", "h264"])
def test_uniform_sampling_picks_segment_centres(clips, kind):
    frames, info = load_video(clips[kind], num_frames=4, sampling="uniform")
    assert frame_ids(frames) == [2, 6, 10, 14] == info["indices"]
    frames, _ = load_video(clips[kind], num_frames=5)
    assert frame_ids(frames) == [1, 4, 8, 11, 14]  # floor((i + 0.5) * 16 / 5)


@pytest.mark.parametrize("kind", ["mkv", "mp4"])
def test_rate_sampling_picks_the_frame_on_screen(clips, kind):
    frames, info = load_video(clips[kind], fps=3.0, sampling="rate")
    assert frame_ids(frames) == [0, 2, 5, 8, 10, 13]  # floor(8 * k / 3) for k / 3 < 2 s
    assert info["timestamps"] == pytest.approx([0, 0.25, 0.625, 1.0, 1.25, 1.625])
    frames, _ = load_video(clips[kind], fps=4.0, num_frames=3, sampling="rate")
    assert frame_ids(frames) == [0, 2, 4]
    frames, _ = load_video(clips[kind], fps=16.0, sampling="rate")
    assert frame_ids(frames) == [k // 2 for k in range(32)]  # faster than the clip: repeats


def test_stream_without_timestamps_falls_back_to_decoded_times(clips):
    frames, info = load_video(clips["h264"])
    assert frame_ids(frames) == list(range(16))
    assert info["frame_count"] == 16


def test_grey_frames_match_pillow_conversion(clips):
    rgb, _ = load_video(clips["mp4"], num_frames=3)
    grey, _ = load_video(clips["mp4"], num_frames=3, channels=1)
    assert grey.shape == (3, 1, 32, 32)
    for t in range(3):
        pixels = (rgb[t] * 255).round().byte().permute(1, 2, 0).numpy()
        reference = np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.float32) / 255
        np.testing.assert_array_equal(grey[t, 0].numpy(), reference)


def test_folder_of_frames_equals_the_video(clips, tmp_path):
    frames, _ = load_video(clips["mp4"])
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):  # names whose plain order is not the frame order
        pixels = (frame * 255).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(folder / f"frame{i}.png")
    (folder / ".hidden.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("ignored")
    assert [f.name for f in frame_files(folder)][:3] == ["frame0.png", "frame1.png", "frame2.png"]
    for options in (
        {"num_frames": 4},
        {"num_frames": 5, "sampling": "uniform"},
        {"fps": 3.0, "sampling": "rate"},
    ):
        expected, video_info = load_video(clips["mp4"], **options)
        got, info = load_video(folder, folder_fps=8.0, **options)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        assert info["indices"] == video_info["indices"]
        assert info["timestamps"] == pytest.approx(video_info["timestamps"])
        assert info["duration"] == pytest.approx(video_info["duration"])


def test_folder_without_frame_rate_samples_uniformly_only(tmp_path):
    for i in range(3):
        Image.new("L", (4, 4), color=i * 50).save(tmp_path / f"{i:03d}.png")
    frames, info = load_video(tmp_path, num_frames=2, channels=1)
    assert (frames[:, 0, 0, 0] * 255).round().tolist() == [0.0, 100.0]  # indices 0 and 2
    assert info["fps"] is None
    assert info["timestamps"] is None
    with pytest.raises(DataError, match="folder_fps"):
        load_video(tmp_path, fps=2.0, sampling="rate")


def test_audio_track_is_mixed_to_mono_and_resampled(tmp_path):
    clip = write_clip(tmp_path / "with_sound.mkv", "ffv1", audio=True)
    wave = load_video_audio(clip, None)
    t = np.arange(2 * 16000) / 16000.0
    left = (0.5 * np.sin(2 * np.pi * 440.0 * t) * 32767).astype(np.int16)
    expected = (left.astype(np.float32) / 32768 + (left // 2).astype(np.float32) / 32768) / 2
    np.testing.assert_allclose(wave.numpy(), expected, atol=1e-6)
    down = load_video_audio(clip, 8000)
    assert down.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(down.numpy() * np.hanning(16000)))
    assert np.fft.rfftfreq(16000, 1 / 8000)[spectrum.argmax()] == pytest.approx(440.0, abs=1)


def test_unusable_files_raise_data_errors_naming_the_path(tmp_path, clips):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(DataError, match="not found") as caught:
        load_video(missing)
    assert str(missing) in str(caught.value)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_video(empty)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 definitely not a video " * 20)
    with pytest.raises(DataError, match="cannot decode") as caught:
        load_video(garbage)
    assert str(garbage) in str(caught.value)
    assert "fix:" in str(caught.value)
    with pytest.raises(DataError, match="no audio track"):
        load_video_audio(clips["mkv"], 16000)
    (tmp_path / "no_frames").mkdir()
    with pytest.raises(DataError, match="no frame images"):
        load_video(tmp_path / "no_frames")


def grid_clips() -> list[Path]:
    if not GRID.is_dir():
        pytest.skip(f"GRID clips not found at {GRID} (../shared/data is absent)")
    return sorted(GRID.glob("*.mpg"))


@pytest.mark.shared_data
def test_real_grid_clips_decode_with_audio_of_the_same_length():
    clips = grid_clips()
    assert len(clips) == 10
    for clip in clips[:3]:
        frames, info = load_video(clip, num_frames=8)
        assert frames.shape == (8, 3, 288, 360)
        assert info["fps"] == pytest.approx(25.0)
        assert info["frame_count"] == 75
        assert info["duration"] == pytest.approx(3.0)
        assert info["indices"] == [4, 14, 23, 32, 42, 51, 60, 70]
        assert frames.std() > 0.05  # real footage, not a blank frame
        wave = load_video_audio(clip, 16000)
        assert wave.ndim == 1
        assert torch.isfinite(wave).all()
        assert abs(wave.shape[0] / 16000 - info["duration"]) < 0.1


@pytest.mark.shared_data
def test_real_grid_rate_sampling_keeps_every_fifth_frame():
    clip = grid_clips()[0]
    _, info = load_video(clip, fps=5.0, sampling="rate", num_frames=1)
    assert info["indices"] == [0]
    sampled, info = load_video(clip, fps=5.0, sampling="rate", num_frames=3)
    assert info["indices"] == [0, 5, 10]
    assert info["timestamps"] == pytest.approx([0.0, 0.2, 0.4])
    every, _ = load_video(clip, fps=25.0, sampling="rate", num_frames=11)
    torch.testing.assert_close(sampled, every[::5], rtol=0, atol=0)
