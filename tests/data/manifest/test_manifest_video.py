"""Manifest ``video`` modalities (files and folders of frames) and audio read from a clip's track:
samples equal the loader + transform applied directly, bad clips follow the bad-row policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.data.loaders.audio import load_audio
from polymodal.data.loaders.video import load_video, load_video_audio
from polymodal.data.manifest import manifest_dataset
from polymodal.data.transforms.audio import LogMelSpectrogram
from polymodal.data.transforms.video import VideoTransform
from polymodal.errors import ConfigError, DataError

av = pytest.importorskip("av")

GRID = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "grid-video"
FRAMES, FPS, STEP = 16, 8, 16  # frame i of a written clip has every pixel = i * STEP


def write_clip(path: Path, *, audio: bool = True, seed: int = 0) -> Path:
    """16 lossless (FFV1, RGB) frames of 24x32 at 8 fps, frame i at level 16 i plus a seeded
    pattern; optionally 2 s of a stereo 440 Hz tone at 16 kHz."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "bgr0"
        sound = out.add_stream("pcm_s16le", rate=16000, layout="stereo") if audio else None
        for i in range(FRAMES):
            rgb = np.full((24, 32, 3), i * STEP, dtype=np.uint8)
            rgb[:4, :4] = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
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


def write_manifest(folder: Path, rows: list[dict]) -> Path:
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build(manifest: Path, modalities: dict, **options):
    """A manifest dataset with regression targets (no class count to keep) and no val split."""
    return manifest_dataset(
        seed=0,
        path=manifest,
        modalities=modalities,
        label="label",
        task="regression",
        val_fraction=0,
        **options,
    )


def _by_id(bundle) -> dict:
    return {s.id: s for split in bundle.splits.values() for s in split}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("video_media")
    write_clip(folder / "a.mkv", seed=0)
    write_clip(folder / "b.mkv", seed=1)
    write_clip(folder / "mute.mkv", audio=False, seed=2)
    (folder / "broken.mp4").write_bytes(b"\x00\x01 not a video at all " * 20)
    frames = folder / "frames"
    frames.mkdir()
    for i in range(10):  # f0 .. f9 at level 20 i (natural order: f2 before f10 not needed here)
        Image.fromarray(np.full((12, 10, 3), 20 * i, dtype=np.uint8)).save(frames / f"f{i}.png")
    return folder


VIDEO = {"kind": "video", "column": "clip", "num_frames": 4, "size": [12, 16]}
VIDEO_NORM = {**VIDEO, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}
AUDIO = {"kind": "audio", "column": "clip", "sample_rate": 8000, "n_mels": 20}


def _rows(clips: list[str]) -> list[dict]:
    return [
        {"id": f"r{i}", "split": "train", "clip": c, "label": float(i)} for i, c in enumerate(clips)
    ]


@pytest.mark.parametrize("cache", [True, False])
def test_one_clip_column_feeds_video_and_audio(media: Path, cache: bool) -> None:
    manifest = write_manifest(media, _rows(["a.mkv", "b.mkv"]))
    bundle = build(manifest, {"lips": VIDEO_NORM, "speech": AUDIO}, cache_in_memory=cache)
    specs = bundle.info.modalities
    assert specs["lips"].kind == "video"
    assert specs["lips"].shape == (-1, 3, 12, 16)
    assert specs["lips"].is_sequence
    assert specs["speech"].shape == (-1, 20)
    samples = _by_id(bundle)
    mel = LogMelSpectrogram(8000, n_mels=20, n_fft=200, hop_length=80)  # 25 ms / 10 ms at 8 kHz
    transform = VideoTransform((12, 16), VIDEO_NORM["mean"], VIDEO_NORM["std"])
    for row_id, clip in (("r0", "a.mkv"), ("r1", "b.mkv")):
        frames, info = load_video(media / clip, num_frames=4)
        assert info["indices"] == [2, 6, 10, 14]  # uniform: centre of 4 segments of 16
        expected = transform(frames)
        got = samples[row_id].inputs["lips"]
        assert got.shape == (4, 3, 12, 16)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        wave = load_video_audio(media / clip, 8000)
        torch.testing.assert_close(samples[row_id].inputs["speech"], mel(wave), rtol=0, atol=0)
    # the two clips differ only in their seeded corner: the samples must too
    assert not torch.equal(samples["r0"].inputs["lips"], samples["r1"].inputs["lips"])


def test_rate_sampling_of_a_folder_of_frames_in_grey(media: Path) -> None:
    manifest = write_manifest(media, _rows(["frames", "a.mkv"]))
    options = {
        "kind": "video",
        "column": "clip",
        "sampling": "rate",
        "fps": 2.0,
        "num_frames": 3,
        "folder_fps": 4.0,
        "channels": 1,
        "size": [6, 5],
    }
    bundle = build(manifest, {"v": options})
    assert bundle.info.modalities["v"].shape == (-1, 1, 6, 5)
    samples = _by_id(bundle)
    frames, info = load_video(
        media / "frames", num_frames=3, fps=2.0, sampling="rate", channels=1, folder_fps=4.0
    )
    assert info["indices"] == [0, 2, 4]  # t = 0, 0.5, 1.0 s at 4 frames per second
    torch.testing.assert_close(samples["r0"].inputs["v"], VideoTransform((6, 5))(frames))
    # a uniform grey frame stays uniform: frame k of the folder is 20 k / 255
    levels = samples["r0"].inputs["v"].mean(dim=(1, 2, 3)) * 255.0
    torch.testing.assert_close(levels, torch.tensor([0.0, 40.0, 80.0]), atol=1e-3, rtol=0)
    # the file's rate (8 fps) drives its sampling: t = 0, 0.5, 1.0 s -> frames 0, 4, 8
    clip, _ = load_video(media / "a.mkv", num_frames=3, fps=2.0, sampling="rate", channels=1)
    torch.testing.assert_close(samples["r1"].inputs["v"], VideoTransform((6, 5))(clip))


def test_bad_clips_follow_the_bad_row_policy(media: Path) -> None:
    rows = _rows(["a.mkv", "broken.mp4", "missing.mkv", "mute.mkv", None])
    manifest = write_manifest(media, rows)
    modalities = {"lips": VIDEO, "speech": AUDIO}
    with pytest.raises(DataError) as info:
        build(manifest, modalities)
    message = str(info.value)
    assert "3 bad rows" in message
    assert "row 2 (id 'r1'), field 'clip', path 'broken.mp4': cannot decode" in message
    assert "path 'missing.mkv': video file not found" in message
    assert "path 'mute.mkv': video file has no audio track" in message

    bundle = build(manifest, modalities, bad_rows="skip")
    assert sorted(s.id for s in bundle.skipped) == ["r1", "r2", "r3"]
    samples = _by_id(bundle)
    assert sorted(samples) == ["r0", "r4"]
    assert samples["r4"].inputs == {"lips": None, "speech": None}  # empty cell: modality missing
    # the mute clip is fine as video alone
    only_video = build(manifest, {"lips": VIDEO}, bad_rows="skip")
    assert sorted(s.id for s in only_video.skipped) == ["r1", "r2"]


def test_from_video_overrides_the_suffix(media: Path, tmp_path: Path) -> None:
    import soundfile

    shutil.copy(media / "a.mkv", tmp_path / "a.clip")  # a suffix no rule knows
    tone = np.sin(np.arange(800) * 0.3).astype(np.float32) * 0.5
    soundfile.write(tmp_path / "tone.wav", tone, 8000)
    manifest = write_manifest(tmp_path, _rows(["a.clip", "tone.wav"]))
    mel = LogMelSpectrogram(8000, n_mels=20, n_fft=200, hop_length=80)

    # by suffix (the default): a.clip is read as a sound file, which it is not
    guessed = build(manifest, {"s": AUDIO}, bad_rows="skip")
    assert [(s.id, s.field) for s in guessed.skipped] == [("r0", "clip")]
    never = build(manifest, {"s": {**AUDIO, "from_video": False}}, bad_rows="skip")
    assert [s.id for s in never.skipped] == ["r0"]
    wav = mel(load_audio(tmp_path / "tone.wav", 8000))
    torch.testing.assert_close(_by_id(never)["r1"].inputs["s"], wav, rtol=0, atol=0)

    forced = build(manifest, {"s": {**AUDIO, "from_video": True}})  # PyAV reads both files
    samples = _by_id(forced)
    expected = mel(load_video_audio(tmp_path / "a.clip", 8000))
    torch.testing.assert_close(samples["r0"].inputs["s"], expected, rtol=0, atol=0)
    from_track = mel(load_video_audio(tmp_path / "tone.wav", 8000))
    torch.testing.assert_close(samples["r1"].inputs["s"], from_track, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "video", "sampling": "rate"}, "sampling: rate needs fps"),
        ({"kind": "video", "fps": 5}, "fps applies to sampling: rate"),
        ({"kind": "video", "num_frames": 0}, "greater than or equal to 1"),
        ({"kind": "video", "mean": [0.5], "std": [0.5]}, "need 3 values"),
        ({"kind": "image", "folder_fps": 5}, "folder_fps do not apply to image"),
        ({"kind": "video", "from_video": True}, "from_video do not apply to video"),
        ({"kind": "video", "preset": "imagenet", "size": 8}, "size are set by the checkpoint"),
    ],
)
def test_video_option_errors(tmp_path: Path, options: dict, message: str) -> None:
    manifest = write_manifest(tmp_path, _rows(["x.mkv"]))
    with pytest.raises(ConfigError, match=message):
        build(manifest, {"v": options})


def test_grid_clips_through_a_manifest(tmp_path: Path) -> None:
    clips = sorted(GRID.glob("*.mpg"))[:2] if GRID.is_dir() else []
    if not clips:
        pytest.skip(f"the GRID clips are not in {GRID} (shared data not present)")
    for clip in clips:  # paths must stay inside the manifest's folder: copy the clips next to it
        shutil.copy(clip, tmp_path / clip.name)
    manifest = write_manifest(tmp_path, _rows([c.name for c in clips]))
    modalities = {
        "lips": {"kind": "video", "column": "clip", "num_frames": 5, "size": [36, 45]},
        "speech": {"kind": "audio", "column": "clip", "n_mels": 40, "max_seconds": 1.0},
    }
    bundle = build(manifest, modalities)
    samples = _by_id(bundle)
    mel = LogMelSpectrogram(16000, n_mels=40, n_fft=400, hop_length=160)
    for i, clip in enumerate(clips):
        frames, info = load_video(tmp_path / clip.name, num_frames=5)
        assert info["frame_count"] == 75
        expected = VideoTransform((36, 45))(frames)
        torch.testing.assert_close(samples[f"r{i}"].inputs["lips"], expected, rtol=0, atol=0)
        wave = load_video_audio(tmp_path / clip.name, 16000)[:16000]  # max_seconds: 1 s
        torch.testing.assert_close(samples[f"r{i}"].inputs["speech"], mel(wave), rtol=0, atol=0)
        assert samples[f"r{i}"].inputs["speech"].shape[0] > 90  # 1 s at a 10 ms hop
