"""Log-mel spectrogram features from a waveform, with ``torch.stft`` and a mel filter bank.

No torchaudio, no librosa: the filter bank follows the HTK mel scale (Young et al., *The HTK
Book*, 2006) with triangular filters, and its values match ``torchaudio.functional.melscale_fbanks``
with ``norm=None, mel_scale="htk"``:

    mel(f) = 2595 * log10(1 + f / 700)

``n_mels + 2`` points are spaced evenly on the mel scale from ``mel(f_min)`` to ``mel(f_max)``;
filter ``m`` rises linearly from 0 at point ``m`` to 1 at point ``m + 1`` and falls back to 0 at
point ``m + 2`` (in Hz). Filters are not area-normalised (peak height 1).

Shape letters: L = waveform samples, F = frequency bins (``n_fft // 2 + 1``), T = frames,
M = mel bins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.errors import DataError


def hz_to_mel(freq: float) -> float:
    """HTK mel of a frequency in Hz: ``2595 * log10(1 + freq / 700)``."""
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    """Inverse of :func:`hz_to_mel`, elementwise: ``700 * (10 ** (mel / 2595) - 1)``."""
    return 700.0 * (torch.pow(10.0, mel / 2595.0) - 1.0)


def mel_filterbank(
    n_freqs: int,
    n_mels: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> Tensor:
    """Triangular filters on the HTK mel scale.

    Args:
        n_freqs: frequency bins of the spectrogram, ``n_fft // 2 + 1``; bin ``k`` is at
            ``k * (sample_rate / 2) / (n_freqs - 1)`` Hz.
        n_mels: number of mel filters.
        sample_rate: sample rate in Hz.
        f_min: lowest frequency of the bank in Hz.
        f_max: highest frequency in Hz; None means Nyquist, ``sample_rate / 2``.

    Returns:
        float32 ``[n_freqs, n_mels]``: ``power[..., F] @ fb`` gives mel energies ``[..., M]``.
        A filter narrower than the bin spacing (``n_mels`` too large for ``n_freqs``) can be all
        zeros.

    Example:
        >>> fb = mel_filterbank(201, 40, 16000)
        >>> tuple(fb.shape)
        (201, 40)
    """
    nyquist = sample_rate / 2.0
    top = nyquist if f_max is None else float(f_max)
    if n_freqs < 2 or n_mels < 1 or sample_rate <= 0:
        raise ValueError(
            f"mel_filterbank needs n_freqs >= 2, n_mels >= 1 and sample_rate > 0, got "
            f"n_freqs={n_freqs}, n_mels={n_mels}, sample_rate={sample_rate}"
        )
    if not 0.0 <= f_min < top <= nyquist:
        raise ValueError(
            f"mel_filterbank needs 0 <= f_min < f_max <= sample_rate / 2 = {nyquist:g}, got "
            f"f_min={f_min:g}, f_max={top:g}"
        )
    bins = torch.linspace(0.0, nyquist, n_freqs, dtype=torch.float64)  # [F]
    mels = torch.linspace(hz_to_mel(f_min), hz_to_mel(top), n_mels + 2, dtype=torch.float64)
    points = mel_to_hz(mels)  # [M + 2] filter edges and centres in Hz
    widths = points[1:] - points[:-1]  # [M + 1]
    offsets = points.unsqueeze(0) - bins.unsqueeze(1)  # [F, M + 2]
    rising = -offsets[:, :-2] / widths[:-1]  # [F, M]: 0 at the left edge, 1 at the centre
    falling = offsets[:, 2:] / widths[1:]  # [F, M]: 1 at the centre, 0 at the right edge
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return fb.to(torch.float32)


def num_frames(length: int, n_fft: int, hop_length: int) -> int:
    """Frames of a centred STFT of ``length`` samples (``n_fft // 2`` padding each side).

    ``1 + (length + 2 * (n_fft // 2) - n_fft) // hop_length``, i.e. ``1 + length // hop_length``
    for an even ``n_fft``.
    """
    return 1 + (length + 2 * (n_fft // 2) - n_fft) // hop_length


def mel_statistics(features: Sequence[Tensor], min_std: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of each mel bin over every frame of ``features``.

    Args:
        features: log-mel tensors ``[T_i, M]`` (or ``[..., T_i, M]``), e.g. a training split.
        min_std: floor of the standard deviation, so a constant bin does not divide by zero.

    Returns:
        float32 ``mean [M]`` and ``std [M]`` (population std, computed in float64);
        ``(x - mean) / std`` standardises a log-mel ``x [..., T, M]``.
    """
    if len(features) == 0:
        raise ValueError("mel_statistics needs at least one log-mel tensor")
    frames = torch.cat([f.reshape(-1, f.shape[-1]) for f in features]).double()  # [sum T_i, M]
    mean = frames.mean(dim=0)
    std = frames.std(dim=0, correction=0).clamp_min(min_std)
    return mean.float(), std.float()


def saved_mel_statistics(
    state: Mapping[str, Any] | None, n_mels: int
) -> tuple[Tensor, Tensor] | None:
    """The ``audio_mean`` / ``audio_std`` a bundle state holds (float32 ``[M]`` each), or None
    when it lacks either.

    Raises:
        DataError: the saved statistics are not ``n_mels`` long.
    """
    if not state or "audio_mean" not in state or "audio_std" not in state:
        return None
    mean = torch.tensor(state["audio_mean"], dtype=torch.float32)
    std = torch.tensor(state["audio_std"], dtype=torch.float32)
    if mean.shape != (n_mels,) or std.shape != (n_mels,):
        raise DataError(
            f"saved audio statistics have {mean.numel()} mel bins, the data has {n_mels}",
            where="state (audio_mean, audio_std)",
            fix="build with the n_mels the state was saved with, or without the state",
        )
    return mean, std


def standardize_mels(
    features: Iterable[Tensor],
    train: Sequence[Tensor],
    state: Mapping[str, Any] | None,
    n_mels: int,
) -> dict[str, list[float]]:
    """Standardise each mel bin of every log-mel in ``features``, in place: ``(x - mean) / std``.

    The statistics are the state's (:func:`saved_mel_statistics`, so evaluation reuses the
    training run's), else :func:`mel_statistics` of ``train`` (the training split's log-mels,
    which may be views into ``features``: they are read before anything changes).

    Args:
        features: log-mels ``[..., T, M]`` to standardise in place (every split).
        train: the training split's log-mels ``[T_i, M]``; read only without saved statistics.
        state: a bundle state holding ``audio_mean`` and ``audio_std``, or None.
        n_mels: mel bins M.

    Returns:
        The statistics used, as state: ``{"audio_mean": [M], "audio_std": [M]}``.
    """
    saved = saved_mel_statistics(state, n_mels)
    mean, std = saved if saved is not None else mel_statistics(train)
    for values in features:
        values.sub_(mean).div_(std)  # [..., T, M]
    return {"audio_mean": mean.tolist(), "audio_std": std.tolist()}


class LogMelSpectrogram(nn.Module):
    """Waveform ``[..., L]`` -> log-mel ``[..., T, M]``, ``T`` = :func:`num_frames`.

    ``X = torch.stft(x, n_fft, hop_length, window=hann(n_fft), center=True)`` (periodic Hann
    window, reflect padding of ``n_fft // 2`` samples each side; constant zero padding when the
    waveform is too short to reflect), power ``|X|**2``, mel energies through
    :func:`mel_filterbank`, then ``log(mel + eps)`` (natural log).

    Args:
        sample_rate: sample rate of the input waveform in Hz.
        n_mels: mel bins M.
        n_fft: FFT size and window length in samples.
        hop_length: samples between frames.
        f_min: lowest frequency of the filter bank in Hz.
        f_max: highest frequency in Hz (None: ``sample_rate / 2``).
        eps: added to mel energies before the log, so silence gives ``log(eps)``.

    :meth:`forward_many` computes the same features for waveforms of different lengths in a few
    large operations (no padding between them), which is much faster than one call per waveform.

    Example:
        >>> features = LogMelSpectrogram(16000, n_mels=64)(torch.zeros(2, 16000))
        >>> tuple(features.shape)
        (2, 101, 64)
    """

    window: Tensor
    filterbank: Tensor

    def __init__(
        self,
        sample_rate: int,
        n_mels: int = 64,
        n_fft: int = 400,
        hop_length: int = 160,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if n_fft < 2 or hop_length < 1 or eps <= 0:
            raise ValueError(
                f"LogMelSpectrogram needs n_fft >= 2, hop_length >= 1 and eps > 0, got "
                f"n_fft={n_fft}, hop_length={hop_length}, eps={eps}"
            )
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.eps = eps
        fb = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate, f_min, f_max)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.register_buffer("filterbank", fb, persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        """Log-mel of ``waveform [..., L]`` as ``[..., T, M]``."""
        if waveform.ndim == 0 or waveform.shape[-1] == 0:
            raise ValueError(
                f"LogMelSpectrogram needs a waveform [..., L] with L > 0, got "
                f"shape {tuple(waveform.shape)}"
            )
        x = waveform if waveform.is_floating_point() else waveform.to(torch.float32)
        lead, length = x.shape[:-1], x.shape[-1]
        flat = x.reshape(-1, length)  # [N, L]
        pad_mode = "reflect" if length > self.n_fft // 2 else "constant"
        spec = torch.stft(
            flat,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window.to(flat.dtype),
            center=True,
            pad_mode=pad_mode,
            return_complex=True,
        )  # [N, F, T]
        power = spec.real.square() + spec.imag.square()  # [N, F, T]
        mel = power.transpose(1, 2) @ self.filterbank.to(flat.dtype)  # [N, T, M]
        out = torch.log(mel + self.eps)
        return out.reshape(*lead, out.shape[1], self.n_mels)  # [..., T, M]

    def forward_many(self, waveforms: Sequence[Tensor], chunk_frames: int = 65536) -> list[Tensor]:
        """Log-mel of each 1-D waveform ``[L_i]`` as ``[T_i, M]``, batched over all frames.

        Each waveform gets its own centre padding (reflect, or zeros when too short), exactly as
        in :meth:`forward`; its frames are cut with a stride of ``hop_length``, and the frames of
        all waveforms go through one windowed real FFT and one filter-bank product per chunk of
        ``chunk_frames`` frames. Matches :meth:`forward` up to float rounding.
        """
        half = self.n_fft // 2
        frames, counts = [], []
        for i, wave in enumerate(waveforms):
            x = wave.detach().to(torch.float32).cpu().numpy()
            if x.ndim != 1 or x.shape[0] == 0:
                raise ValueError(
                    f"forward_many needs non-empty 1-D waveforms, got shape {x.shape} at index {i}"
                )
            padded = np.pad(x, half, mode="reflect" if x.shape[0] > half else "constant")
            windows = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft)  # [., n_fft]
            frames.append(windows[:: self.hop_length])  # [T_i, n_fft]
            counts.append(frames[-1].shape[0])
        if not frames:
            return []
        stacked = torch.from_numpy(np.concatenate(frames)).to(
            self.window.device
        )  # [sum T_i, n_fft]
        parts = []
        for begin in range(0, stacked.shape[0], chunk_frames):
            spec = torch.fft.rfft(stacked[begin : begin + chunk_frames] * self.window, dim=-1)
            power = spec.real.square() + spec.imag.square()  # [chunk, F]
            parts.append(torch.log(power @ self.filterbank + self.eps))  # [chunk, M]
        return list(torch.cat(parts).split(counts))  # each [T_i, M]

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, n_fft={self.n_fft}, "
            f"hop_length={self.hop_length}"
        )
