"""Tests of the encoders trained from zero (polymodal.encoders.scratch) and pooling helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from polymodal.data.collate import collate_modality
from polymodal.data.schema import ModalityBatch, ModalitySpec
from polymodal.errors import ConfigError, DataError
from polymodal.nn import masked_mean
from polymodal.registry import ENCODERS

TEXT = ModalitySpec("text", "text", (-1,), vocab_size=30, pad_id=0)
AUDIO = ModalitySpec("audio", "audio", (-1, 8))
IMAGE = ModalitySpec("image", "image", (3, 8, 8))
TABULAR = ModalitySpec("tab", "tabular", (5,))

SMALL: dict[str, dict[str, int]] = {
    "mlp": {"out_dim": 12, "hidden_dim": 16},
    "cnn": {"out_dim": 12, "channels": 4},
    "audio_conv": {"out_dim": 12, "channels": 8},
    "audio_gru": {"out_dim": 12, "hidden_dim": 8},
    "text_transformer": {"out_dim": 12, "num_heads": 2, "max_len": 40},
    "text_gru": {"out_dim": 12, "embed_dim": 8, "hidden_dim": 8},
}
SPECS = {
    "mlp": TABULAR,
    "cnn": IMAGE,
    "audio_conv": AUDIO,
    "audio_gru": AUDIO,
    "text_transformer": TEXT,
    "text_gru": TEXT,
}
SEQUENCE = ["audio_conv", "audio_gru", "text_transformer", "text_gru"]


def _sample(spec: ModalitySpec, length: int, gen: torch.Generator) -> Tensor:
    if spec.kind == "text":
        return torch.randint(1, spec.vocab_size or 2, (length,), generator=gen)
    shape = tuple(length if d == -1 else d for d in spec.shape)
    return torch.randn(shape, generator=gen)


def _batch(spec: ModalitySpec, lengths: list[int | None], seed: int = 0) -> ModalityBatch:
    """Collate samples of the given lengths (None = modality absent) like the data pipeline."""
    gen = torch.Generator().manual_seed(seed)
    values = [None if n is None else _sample(spec, n, gen) for n in lengths]
    return collate_modality(values, spec)


def _build(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return ENCODERS.create(name, spec=SPECS[name], **SMALL[name])


def _pad(batch: ModalityBatch, extra: int, fill: float) -> ModalityBatch:
    """Append ``extra`` padding positions to every sample."""
    b = len(batch)
    tail = torch.full((b, extra, *batch.values.shape[2:]), fill, dtype=batch.values.dtype)
    mask = torch.ones((b, extra), dtype=torch.bool)
    assert batch.padding_mask is not None
    return ModalityBatch(
        torch.cat([batch.values, tail], dim=1),
        batch.present,
        torch.cat([batch.padding_mask, mask], dim=1),
    )


def test_registry_lists_every_scratch_encoder() -> None:
    assert set(SMALL) <= set(ENCODERS.names())


@pytest.mark.parametrize("name", list(SMALL))
def test_forward_backward_shapes(name: str) -> None:
    enc = _build(name)
    lengths: list[int | None] = [6, 3, 6, 1] if name in SEQUENCE else [1, 1, 1, 1]
    batch = _batch(SPECS[name], lengths)
    out = enc(batch)
    b, t, d = out.tokens.shape
    assert (b, d) == (4, 12)
    assert enc.out_dim == 12
    assert out.pooled.shape == (4, 12)
    assert out.padding_mask.shape == (4, t)
    assert out.padding_mask.dtype == torch.bool
    assert torch.equal(out.present, batch.present)
    (out.pooled.square().sum() + out.tokens.sum()).backward()
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


@pytest.mark.parametrize("name", SEQUENCE)
def test_pooled_ignores_appended_padding(name: str) -> None:
    enc = _build(name).eval()
    batch = _batch(SPECS[name], [7, 3, 5])
    padded = _pad(batch, extra=9, fill=SPECS[name].pad_id if name.startswith("text") else 0.0)
    with torch.no_grad():
        short, long = enc(batch), enc(padded)
    torch.testing.assert_close(long.pooled, short.pooled, atol=1e-6, rtol=1e-5)
    t = short.tokens.shape[1]
    torch.testing.assert_close(long.tokens[:, :t], short.tokens, atol=1e-6, rtol=1e-5)
    assert torch.equal(long.padding_mask[:, :t], short.padding_mask)
    assert bool(long.padding_mask[:, t:].all())


@pytest.mark.parametrize("name", SEQUENCE)
def test_batched_equals_alone(name: str) -> None:
    """A sample padded inside a batch is encoded exactly as when it is alone, unpadded."""
    enc = _build(name).eval()
    batch = _batch(SPECS[name], [4, 9, 2], seed=3)
    with torch.no_grad():
        together = enc(batch)
        for i, n in enumerate([4, 9, 2]):
            alone = ModalityBatch(batch.values[i : i + 1, :n], batch.present[i : i + 1], None)
            torch.testing.assert_close(
                enc(alone).pooled[0], together.pooled[i], atol=1e-6, rtol=1e-5
            )


@pytest.mark.parametrize("name", list(SMALL))
def test_absent_samples_are_finite(name: str) -> None:
    enc = _build(name)
    lengths: list[int | None] = [None, 4, None] if name in SEQUENCE else [None, 1, None]
    batch = _batch(SPECS[name], lengths)
    assert batch.present.tolist() == [False, True, False]
    for mode in (enc.train, enc.eval):
        mode()
        out = enc(batch)
        assert torch.isfinite(out.tokens).all()
        assert torch.isfinite(out.pooled).all()
        assert out.present.tolist() == [False, True, False]
        assert not bool(out.padding_mask.all(dim=1).any())  # every row keeps a valid position


def test_audio_conv_downsamples_mask_consistently() -> None:
    enc = ENCODERS.create("audio_conv", spec=AUDIO, out_dim=6, num_layers=3, stride=2).eval()
    lengths = [13, 5, 1]
    batch = _batch(AUDIO, lengths)
    out = enc(batch)

    def down(n: int) -> int:
        for _ in range(3):
            n = math.ceil(n / 2)
        return n

    assert out.tokens.shape[1] == down(13) == out.padding_mask.shape[1]
    assert (~out.padding_mask).sum(dim=1).tolist() == [down(n) for n in lengths]
    assert bool((out.tokens[out.padding_mask] == 0).all())  # padding tokens are zeroed
    valid = ~out.padding_mask
    for i in range(3):
        torch.testing.assert_close(out.pooled[i], out.tokens[i][valid[i]].mean(dim=0))


@pytest.mark.parametrize(("side", "tokens"), [(8, 1), (16, 4), (224, 49)])
def test_cnn_token_grid(side: int, tokens: int) -> None:
    spec = ModalitySpec("image", "image", (3, side, side))
    enc = ENCODERS.create("cnn", spec=spec, out_dim=10, channels=4).eval()
    with torch.no_grad():
        out = enc(ModalityBatch(torch.randn(2, 3, side, side), torch.ones(2, dtype=torch.bool)))
    assert out.tokens.shape == (2, tokens, 10)
    torch.testing.assert_close(out.pooled, out.tokens.mean(dim=1))
    assert not bool(out.padding_mask.any())


def test_cnn_sample_independent_of_batch() -> None:
    """GroupNorm: a sample's features do not depend on the other samples, even in training."""
    torch.manual_seed(0)
    enc = ENCODERS.create("cnn", spec=IMAGE, out_dim=6, channels=4, dropout=0.0).train()
    x = torch.randn(3, 3, 8, 8)
    both = enc(ModalityBatch(x, torch.ones(3, dtype=torch.bool)))
    one = enc(ModalityBatch(x[:1], torch.ones(1, dtype=torch.bool)))
    torch.testing.assert_close(both.pooled[:1], one.pooled, atol=1e-6, rtol=1e-5)


def test_mlp_flattens_images() -> None:
    spec = ModalitySpec("image", "image", (1, 4, 4))
    enc = ENCODERS.create("mlp", spec=spec, out_dim=3, num_layers=0, dropout=0.0)
    x = torch.randn(2, 1, 4, 4)
    out = enc(ModalityBatch(x, torch.ones(2, dtype=torch.bool)))
    linear = enc.net[0]
    torch.testing.assert_close(out.pooled, x.reshape(2, 16) @ linear.weight.T + linear.bias)
    assert out.tokens.shape == (2, 1, 3)


def test_same_seed_gives_identical_outputs() -> None:
    batch = _batch(TEXT, [5, 2, 7])
    a, b = _build("text_transformer", seed=1), _build("text_transformer", seed=1)
    torch.manual_seed(9)
    out_a = a(batch).pooled
    torch.manual_seed(9)
    out_b = b(batch).pooled
    assert torch.equal(out_a, out_b)


def test_masked_mean_matches_numpy() -> None:
    tokens = torch.randn(3, 5, 4)
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    expected = np.stack([tokens[i].numpy()[~mask[i].numpy()].mean(axis=0) for i in range(3)])
    np.testing.assert_allclose(masked_mean(tokens, mask).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "spec", "params"),
    [
        ("cnn", AUDIO, {}),
        ("mlp", AUDIO, {}),
        ("audio_conv", IMAGE, {}),
        ("audio_conv", AUDIO, {"kernel_size": 4}),
        ("text_gru", ModalitySpec("t", "text", (-1,)), {}),
        ("text_transformer", TEXT, {"out_dim": 10, "num_heads": 4}),
    ],
)
def test_misfit_raises_config_error(name: str, spec: ModalitySpec, params: dict) -> None:
    with pytest.raises(ConfigError, match=name):
        ENCODERS.create(name, spec=spec, **params)


def test_text_longer_than_max_len_raises() -> None:
    enc = ENCODERS.create("text_transformer", spec=TEXT, out_dim=8, num_heads=2, max_len=4)
    with pytest.raises(DataError, match="max_len"):
        enc(_batch(TEXT, [6]))
