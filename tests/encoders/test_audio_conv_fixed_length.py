"""audio_conv on fixed-length audio: a feature array ``(T, M)`` or a plain waveform ``(T,)``
without time padding is encoded like the same values in a padded ``(-1, M)`` modality."""

from __future__ import annotations

import pytest
import torch

from polymodal.data.collate import collate_modality
from polymodal.data.schema import ModalityBatch, ModalitySpec
from polymodal.errors import ConfigError
from polymodal.registry import ENCODERS

PARAMS = {"out_dim": 6, "channels": 8, "num_layers": 2, "dropout": 0.0}


def _pair(fixed: ModalitySpec, padded: ModalitySpec):
    """Two audio_conv encoders with the same weights, one per spec."""
    torch.manual_seed(0)
    a = ENCODERS.create("audio_conv", spec=fixed, **PARAMS).eval()
    b = ENCODERS.create("audio_conv", spec=padded, **PARAMS).eval()
    b.load_state_dict(a.state_dict())
    return a, b


def test_fixed_length_frames_encode_like_unpadded_sequences() -> None:
    fixed, padded = ModalitySpec("audio", "audio", (13, 8)), ModalitySpec("audio", "audio", (-1, 8))
    a, b = _pair(fixed, padded)
    values = [torch.randn(13, 8) for _ in range(3)]
    batch_fixed = collate_modality(values, fixed)
    assert batch_fixed.padding_mask is None  # no time padding: every frame is data
    out_fixed, out_padded = a(batch_fixed), b(collate_modality(values, padded))
    torch.testing.assert_close(out_fixed.tokens, out_padded.tokens)
    torch.testing.assert_close(out_fixed.pooled, out_padded.pooled)
    assert out_fixed.tokens.shape == (3, 4, 6)  # 13 -> 7 -> 4 frames at stride 2
    assert not bool(out_fixed.padding_mask.any())


@pytest.mark.parametrize("length", [16000, -1])
def test_waveform_is_one_channel(length: int) -> None:
    wave = ModalitySpec("audio", "audio", (length,))
    a, b = _pair(wave, ModalitySpec("audio", "audio", (-1, 1)))
    x = torch.randn(2, 160)
    present = torch.ones(2, dtype=torch.bool)
    out = a(ModalityBatch(x, present))
    ref = b(ModalityBatch(x.unsqueeze(-1), present))  # [B, T, 1]
    torch.testing.assert_close(out.pooled, ref.pooled)
    assert a.convs[0].in_channels == 1


@pytest.mark.parametrize("shape", [(0, 8), (13, 0), (2, 3, 4), (-1, 8, 2), ()])
def test_shapes_without_time_frames_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="audio_conv"):
        ENCODERS.create("audio_conv", spec=ModalitySpec("audio", "audio", shape))
