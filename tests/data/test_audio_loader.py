"""load_audio: real FSDD WAVs, mono mixing, resampling that keeps a tone's frequency, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from polymodal.data.loaders.audio import load_audio
from polymodal.errors import DataError

FSDD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fsdd" / "recordings"


def fsdd_files(count: int) -> list[Path]:
    if not FSDD.is_dir():
        pytest.skip(f"real FSDD recordings not found at {FSDD} (../shared/data is absent)")
    return sorted(FSDD.glob("*.wav"))[:count]


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.shared_data
def test_real_wavs_decode_like_raw_pcm():
    for path in fsdd_files(5):
        raw, rate = sf.read(path, dtype="int16")
        assert rate == 8000
        wave = load_audio(path, 8000)
        assert wave.dtype == torch.float32
        assert wave.ndim == 1
        np.testing.assert_array_equal(wave.numpy(), raw.astype(np.float32) / 32768.0)
        assert load_audio(path, None).shape == wave.shape


@pytest.mark.shared_data
def test_real_wav_resampled_to_16k_matches_scipy():
    path = fsdd_files(1)[0]
    raw, _ = sf.read(path, dtype="float32")
    wave = load_audio(path, 16000)
    assert wave.shape[0] == 2 * len(raw)
    np.testing.assert_allclose(wave.numpy(), resample_poly(raw, 2, 1), atol=1e-6)


def test_stereo_is_averaged_to_mono(tmp_path):
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, size=(800, 2)).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 8000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path, None).numpy(), stereo.mean(axis=1), atol=1e-7)


def test_resampling_keeps_the_frequency_of_a_sine(tmp_path):
    rate, freq = 44100, 441.0
    t = np.arange(rate) / rate  # 1 s
    path = tmp_path / "sine.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * freq * t), rate, subtype="FLOAT")
    wave = load_audio(path, 16000).numpy()
    assert len(wave) == 16000  # 44100 * 160 / 441: the reduced ratio
    assert peak_frequency(wave, 16000) == pytest.approx(freq, abs=1.0)
    expected = resample_poly(0.5 * np.sin(2 * np.pi * freq * t), 160, 441)
    np.testing.assert_allclose(wave, expected, atol=1e-5)


def test_zero_byte_file_raises_with_path_and_fix(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty") as info:
        load_audio(path, 8000)
    assert str(path) in str(info.value)
    assert "fix:" in str(info.value)


def test_truncated_wav_raises(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(8000, dtype=np.float32), 8000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:5000])
    assert sf.read(cut)[0].shape == (2478,)  # libsndfile alone would accept it
    with pytest.raises(DataError, match="truncated") as info:
        load_audio(cut, 8000)
    assert str(cut) in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not audio at all " * 8, "cannot decode"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot decode"),
    ],
)
def test_undecodable_file_raises(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        load_audio(path, None)
    assert str(path) in str(info.value)


def test_missing_and_sample_free_files_raise(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_audio(tmp_path / "nope.wav", 8000)
    silent = tmp_path / "no_samples.wav"
    sf.write(silent, np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(DataError, match="no samples"):
        load_audio(silent, 8000)
