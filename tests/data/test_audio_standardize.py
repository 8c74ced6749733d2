"""Tests of the shared audio standardisation (polymodal.data.transforms.audio.standardize_mels):
training statistics computed by hand, saved statistics reused, views read before they change,
and the built-in datasets' results equal to the per-dataset normalisation it replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.data.builtin.synthetic import synthetic
from polymodal.data.transforms.audio import saved_mel_statistics, standardize_mels
from polymodal.errors import DataError


def _reference_stats(train: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and population std over every training frame, in float64, std >= 1e-3."""
    frames = np.concatenate([t.numpy().astype(np.float64).reshape(-1, t.shape[-1]) for t in train])
    return frames.mean(axis=0), np.maximum(frames.std(axis=0), 1e-3)


def _log_mels(seed: int, lengths: list[int], n_mels: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scale = torch.arange(1, n_mels + 1, dtype=torch.float32)
    return [torch.randn(t, n_mels, generator=g) * scale + 3.0 for t in lengths]  # each [T_i, M]


def test_training_statistics_standardise_every_split() -> None:
    train, test = _log_mels(0, [5, 9, 2]), _log_mels(1, [4, 6])
    raw = [t.clone() for t in train + test]
    state = standardize_mels(train + test, train, None, n_mels=4)
    mean, std = _reference_stats([t for t in raw[:3]])
    np.testing.assert_allclose(state["audio_mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(state["audio_std"], std, rtol=1e-6)
    for before, after in zip(raw, train + test, strict=True):  # in place, test split included
        expected = (before.numpy().astype(np.float64) - mean) / std
        np.testing.assert_allclose(after.numpy(), expected, rtol=1e-5, atol=1e-5)
    frames = torch.cat(train)  # the training frames now have mean 0 and std 1 per bin
    torch.testing.assert_close(frames.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(frames.std(0, correction=0), torch.ones(4), atol=1e-5, rtol=0)


def test_saved_statistics_are_reused_not_recomputed() -> None:
    saved = {"audio_mean": [1.0, 2.0, 3.0, 4.0], "audio_std": [2.0, 4.0, 0.5, 1.0], "other": 1}
    train, test = _log_mels(2, [6]), _log_mels(3, [3])
    raw_test = test[0].clone()
    state = standardize_mels(train + test, train, saved, n_mels=4)
    assert state == {"audio_mean": saved["audio_mean"], "audio_std": saved["audio_std"]}
    mean, std = torch.tensor(saved["audio_mean"]), torch.tensor(saved["audio_std"])
    torch.testing.assert_close(test[0], (raw_test - mean) / std, rtol=0, atol=0)


def test_a_state_without_both_statistics_learns_them() -> None:
    assert saved_mel_statistics(None, 4) is None
    assert saved_mel_statistics({}, 4) is None
    assert saved_mel_statistics({"audio_mean": [0.0] * 4}, 4) is None  # std missing
    train = _log_mels(4, [7])
    expected = _reference_stats([train[0].clone()])
    state = standardize_mels(train, train, {"audio_mean": [0.0] * 4}, n_mels=4)
    np.testing.assert_allclose(state["audio_mean"], expected[0], rtol=1e-6)


def test_statistics_of_another_width_are_refused() -> None:
    saved = {"audio_mean": [0.0] * 3, "audio_std": [1.0] * 3}
    with pytest.raises(DataError, match="3 mel bins, the data has 4"):
        standardize_mels(_log_mels(5, [2]), [], saved, n_mels=4)


def test_train_views_into_a_padded_tensor_are_read_before_it_changes() -> None:
    # synthetic's layout: one [N, F_max, M] tensor, training frames as views into it
    padded = torch.stack(
        [torch.nn.functional.pad(t, (0, 0, 0, 8 - len(t))) for t in _log_mels(6, [8, 5, 3])]
    )
    lengths = [8, 5, 3]
    reference = padded.clone()
    train = [padded[i, :f] for i, f in enumerate(lengths[:2])]  # views, first two samples
    state = standardize_mels([padded], train, None, n_mels=4)
    mean, std = _reference_stats([reference[0, :8], reference[1, :5]])
    np.testing.assert_allclose(state["audio_mean"], mean, rtol=1e-6)
    expected = (reference.numpy().astype(np.float64) - mean) / std  # padding frames too
    np.testing.assert_allclose(padded.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_synthetic_equals_its_former_normalisation() -> None:
    """The per-dataset code it replaced: mean / population std (float64, floor 1e-3) over the
    training samples' valid frames, then ``(x - mean) / std`` on every sample."""
    raw = synthetic(seed=3, n=200, normalize_audio=False)
    normalised = synthetic(seed=3, n=200)
    train = [raw.splits["train"][i].inputs["audio"] for i in range(len(raw.splits["train"]))]
    mean, std = _reference_stats(train)
    np.testing.assert_allclose(normalised.state["audio_mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(normalised.state["audio_std"], std, rtol=1e-6)
    saved_mean = torch.tensor(normalised.state["audio_mean"])
    saved_std = torch.tensor(normalised.state["audio_std"])
    for split, data in raw.splits.items():
        for i in range(len(data)):
            x, y = data[i].inputs["audio"], normalised.splits[split][i].inputs["audio"]
            torch.testing.assert_close(y, (x - saved_mean) / saved_std, rtol=0, atol=0)
