"""Log-mel features: the filter bank against triangles written out, the STFT against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from polymodal.data.transforms.audio import (
    LogMelSpectrogram,
    hz_to_mel,
    mel_filterbank,
    mel_statistics,
    mel_to_hz,
    num_frames,
)


def reference_filterbank(n_freqs: int, n_mels: int, sr: int, f_min: float, f_max: float):
    """Triangles written out one filter and one bin at a time, in float64."""

    def mel(f: float) -> float:
        return 2595.0 * math.log10(1.0 + f / 700.0)

    def hz(m: float) -> float:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    lo, hi = mel(f_min), mel(f_max)
    edges = [hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    fb = np.zeros((n_freqs, n_mels))
    for k in range(n_freqs):
        f = k * (sr / 2) / (n_freqs - 1)
        for m in range(n_mels):
            left, centre, right = edges[m], edges[m + 1], edges[m + 2]
            if left <= f <= centre:
                fb[k, m] = (f - left) / (centre - left)
            elif centre < f <= right:
                fb[k, m] = (right - f) / (right - centre)
    return fb


def reference_log_mel(x: np.ndarray, sr: int, n_mels: int, n_fft: int, hop: int, eps: float):
    """Centred frames with numpy padding, periodic Hann, numpy rfft, power, filter bank, log."""
    mode = "reflect" if len(x) > n_fft // 2 else "constant"
    padded = np.pad(x.astype(np.float64), n_fft // 2, mode=mode)
    n_frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[t * hop : t * hop + n_fft] * window for t in range(n_frames)])
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # [T, F]
    fb = reference_filterbank(n_fft // 2 + 1, n_mels, sr, 0.0, sr / 2)
    return np.log(power @ fb + eps)  # [T, M]


def test_htk_mel_scale_known_values():
    assert hz_to_mel(0.0) == 0.0
    assert hz_to_mel(1000.0) == pytest.approx(999.985, abs=1e-3)  # HTK: ~1000 mel at 1 kHz
    back = mel_to_hz(torch.tensor([hz_to_mel(440.0), hz_to_mel(3000.0)], dtype=torch.float64))
    assert back.tolist() == pytest.approx([440.0, 3000.0])


@pytest.mark.parametrize(
    ("n_freqs", "n_mels", "sr", "f_min", "f_max"),
    [(201, 40, 16000, 0.0, None), (129, 32, 8000, 100.0, 3800.0), (257, 16, 22050, 0.0, 8000.0)],
)
def test_filterbank_matches_triangles_written_out(n_freqs, n_mels, sr, f_min, f_max):
    fb = mel_filterbank(n_freqs, n_mels, sr, f_min, f_max)
    expected = reference_filterbank(n_freqs, n_mels, sr, f_min, sr / 2 if f_max is None else f_max)
    assert fb.shape == (n_freqs, n_mels)
    assert fb.dtype == torch.float32
    np.testing.assert_allclose(fb.numpy(), expected, atol=1e-6)
    assert float(fb.min()) == 0.0
    assert float(fb.max()) <= 1.0


def test_filterbank_rejects_bad_ranges():
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(201, 40, 16000, f_max=9000.0)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(201, 0, 16000)


@pytest.mark.parametrize(
    ("length", "n_fft", "hop"), [(4000, 256, 128), (1234, 200, 80), (60, 200, 80)]
)
def test_log_mel_matches_numpy_frames(length, n_fft, hop):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(length).astype(np.float32) * 0.1
    mel = LogMelSpectrogram(8000, n_mels=32, n_fft=n_fft, hop_length=hop)
    out = mel(torch.from_numpy(x))
    expected = reference_log_mel(x, 8000, 32, n_fft, hop, 1e-6)
    assert out.shape == (num_frames(length, n_fft, hop), 32) == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5, rtol=1e-5)


def test_log_mel_keeps_leading_dims_and_matches_per_row():
    x = torch.randn(2, 3, 1000, generator=torch.Generator().manual_seed(0))
    mel = LogMelSpectrogram(16000, n_mels=20, n_fft=128, hop_length=64)
    out = mel(x)
    assert out.shape == (2, 3, 1 + 1000 // 64, 20)
    torch.testing.assert_close(out[1, 2], mel(x[1, 2]))


def test_silence_is_log_eps():
    out = LogMelSpectrogram(8000, n_mels=8, n_fft=64, hop_length=32, eps=1e-4)(torch.zeros(500))
    torch.testing.assert_close(out, torch.full_like(out, math.log(1e-4)))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0, 5200.0])
def test_sine_tone_peaks_in_its_mel_bin(freq):
    sr, n_mels = 16000, 40
    t = torch.arange(sr // 2, dtype=torch.float64) / sr
    tone = torch.sin(2 * math.pi * freq * t + 0.3).float()
    out = LogMelSpectrogram(sr, n_mels=n_mels, n_fft=512, hop_length=160)(tone)  # [T, M]
    peak = int(out.mean(dim=0).argmax())
    edges = mel_to_hz(torch.linspace(0.0, hz_to_mel(sr / 2), n_mels + 2, dtype=torch.float64))
    centres = edges[1:-1]
    assert peak == int((centres - freq).abs().argmin())
    assert float(edges[peak]) < freq < float(edges[peak + 2])  # inside the peak filter's triangle


def test_forward_many_matches_forward_for_mixed_lengths():
    gen = torch.Generator().manual_seed(1)
    waves = [torch.randn(n, generator=gen) for n in (3000, 50, 101, 1777)]
    mel = LogMelSpectrogram(8000, n_mels=24, n_fft=200, hop_length=80)
    many = mel.forward_many(waves)
    assert [m.shape for m in many] == [(num_frames(len(w), 200, 80), 24) for w in waves]
    for batched, wave in zip(many, waves, strict=True):
        torch.testing.assert_close(batched, mel(wave), atol=1e-4, rtol=1e-5)
    assert mel.forward_many([]) == []


def test_mel_statistics_match_numpy():
    gen = torch.Generator().manual_seed(2)
    feats = [torch.randn(t, 5, generator=gen) * 3 + 1 for t in (4, 9, 1)]
    mean, std = mel_statistics(feats)
    frames = np.concatenate([f.numpy() for f in feats])
    np.testing.assert_allclose(mean.numpy(), frames.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std.numpy(), frames.std(0), rtol=1e-5)
    _, floor = mel_statistics([torch.ones(3, 2)])
    assert floor.tolist() == pytest.approx([1e-3, 1e-3])
