"""A clip row whose video has zero decodable frames, or no video stream at all, is a bad row of
its video modality (named with the row, column and path), while its audio stays usable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polymodal.data.manifest import manifest_dataset
from polymodal.errors import DataError

av = pytest.importorskip("av")


def _write(path: Path, frames: int, audio: bool) -> None:
    with av.open(str(path), "w") as out:
        video = out.add_stream("ffv1", rate=8) if frames >= 0 else None
        if video is not None:
            video.width, video.height, video.pix_fmt = 16, 16, "bgr0"
        sound = out.add_stream("pcm_s16le", rate=8000, layout="mono") if audio else None
        for i in range(max(frames, 0)):
            rgb = np.full((16, 16, 3), 10 * i, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        if video is not None:
            for packet in video.encode():
                out.mux(packet)
        if sound is not None:
            pcm = (np.sin(np.arange(8000) * 0.2) * 8000).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = 8000
            for packet in [*sound.encode(frame), *sound.encode()]:
                out.mux(packet)


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    _write(tmp_path / "good.mkv", frames=4, audio=True)
    _write(tmp_path / "empty.mkv", frames=0, audio=True)  # a video stream with no frame
    _write(tmp_path / "sound.mkv", frames=-1, audio=True)  # no video stream at all
    rows = [
        {"id": name, "split": "train", "clip": f"{name}.mkv", "y": 0.5}
        for name in ("good", "empty", "sound")
    ]
    path = tmp_path / "clips.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


VIDEO = {"kind": "video", "column": "clip", "num_frames": 2, "size": [8, 8]}
AUDIO = {"kind": "audio", "column": "clip", "sample_rate": 8000, "n_mels": 8}


def _build(path: Path, modalities: dict, **options):
    return manifest_dataset(
        seed=0,
        path=path,
        modalities=modalities,
        label="y",
        task="regression",
        val_fraction=0,
        test_fraction=0,
        **options,
    )


def test_clips_without_frames_are_bad_rows_named_in_the_error(manifest: Path) -> None:
    with pytest.raises(DataError) as info:
        _build(manifest, {"frames": VIDEO, "audio": AUDIO})
    message = str(info.value)
    assert "2 bad rows" in message
    assert "row 2 (id 'empty'), field 'clip', path 'empty.mkv': video stream holds no frames" in (
        message
    )
    assert "row 3 (id 'sound'), field 'clip', path 'sound.mkv': file has no video stream" in (
        message
    )
    bundle = _build(manifest, {"frames": VIDEO, "audio": AUDIO}, bad_rows="skip")
    assert [s.id for s in bundle.skipped] == ["empty", "sound"]
    assert [s.id for s in bundle.splits["train"]] == ["good"]
    # the audio of those clips is fine on its own
    assert len(_build(manifest, {"audio": AUDIO}).splits["train"]) == 3
