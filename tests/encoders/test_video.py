"""The ``video`` encoder: frame tokens from the image encoder, temporal pooling against hand
computations, padding invariance, absent samples, gradients and config errors."""

from __future__ import annotations

import pytest
import torch

from polymodal.config import ModelConfig
from polymodal.data.collate import collate_modality
from polymodal.data.schema import Batch, DatasetInfo, ModalityBatch, ModalitySpec, TaskSpec
from polymodal.encoders.scratch import CNNEncoder
from polymodal.encoders.video import VideoEncoder
from polymodal.errors import ConfigError, DataError
from polymodal.models.builder import build_model
from polymodal.registry import ENCODERS

SPEC = ModalitySpec("clip", "video", (-1, 3, 12, 12))
FRAME_PARAMS = {"out_dim": 8, "channels": 4, "num_blocks": 2, "dropout": 0.0}


def make(temporal: str = "mean", **params) -> VideoEncoder:
    torch.manual_seed(0)
    options = {"frame_encoder": "cnn", "frame_encoder_params": FRAME_PARAMS, "heads": 2}
    return ENCODERS.create("video", spec=SPEC, temporal=temporal, **{**options, **params}).eval()


def clips(lengths: list[int | None], seed: int = 0) -> ModalityBatch:
    g = torch.Generator().manual_seed(seed)
    values = [None if n is None else torch.rand(n, 3, 12, 12, generator=g) for n in lengths]
    return collate_modality(values, SPEC)


def test_frame_tokens_are_the_image_encoders_pooled_output_per_frame():
    encoder = make()
    batch = clips([3, 1, None])
    tokens, mask = encoder.frame_tokens(batch)
    assert tokens.shape == (3, 3, 8)
    assert mask.tolist() == [[False] * 3, [False, True, True], [False, True, True]]
    for b, t in [(0, 0), (0, 1), (0, 2), (1, 0)]:
        one = ModalityBatch(batch.values[b, t : t + 1], torch.tensor([True]))
        torch.testing.assert_close(tokens[b, t], encoder.frames(one).pooled[0])
    assert tokens[1, 1:].abs().sum() == 0  # padding frames: zeros
    assert tokens[2].abs().sum() == 0  # absent sample: never encoded


def test_only_present_non_padding_frames_reach_the_frame_encoder():
    encoder = make()
    seen: list[int] = []
    encoder.frames.register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
    encoder(clips([4, 2, None, 1]))
    assert seen == [4 + 2 + 1]


@pytest.mark.parametrize(
    ("temporal", "out_dim"), [("mean", None), ("attention", 6), ("transformer", 6)]
)
def test_shapes_and_contract(temporal, out_dim):
    encoder = make(temporal, out_dim=out_dim)
    width = 8 if out_dim is None else out_dim
    assert encoder.out_dim == width
    batch = clips([5, 2, None])
    features = encoder(batch)
    assert features.tokens.shape == (3, 5, width)
    assert features.pooled.shape == (3, width)
    assert torch.equal(features.padding_mask, batch.padding_mask)
    assert torch.equal(features.present, batch.present)
    assert features.tokens[1, 2:].abs().sum() == 0  # zeros at padding
    assert torch.isfinite(features.tokens).all()
    assert torch.isfinite(features.pooled).all()


def test_mean_pooling_is_the_masked_mean_of_frame_tokens():
    encoder = make("mean")
    batch = clips([4, 2])
    tokens, _ = encoder.frame_tokens(batch)
    pooled = encoder(batch).pooled
    torch.testing.assert_close(pooled[0], tokens[0].mean(dim=0))
    torch.testing.assert_close(pooled[1], tokens[1, :2].mean(dim=0))


def test_attention_pooling_against_a_hand_computation():
    encoder = make("attention")
    batch = clips([4, 2])
    tokens, _ = encoder.frame_tokens(batch)
    pool = encoder.attention
    for b, n in [(0, 4), (1, 2)]:
        h = tokens[b, :n]  # [n, D]
        scores = torch.tanh(h @ pool.proj.weight.T + pool.proj.bias) @ pool.score.weight[0]
        weights = torch.exp(scores - scores.max())
        expected = (weights / weights.sum()) @ h
        torch.testing.assert_close(encoder(batch).pooled[b], expected)


@pytest.mark.parametrize("temporal", ["mean", "attention", "transformer"])
def test_padding_frames_do_not_change_the_output(temporal):
    encoder = make(temporal, out_dim=6)
    batch = clips([3, 2])
    b, t = batch.values.shape[:2]
    noise = torch.rand(b, 4, 3, 12, 12, generator=torch.Generator().manual_seed(9))
    padded = ModalityBatch(
        torch.cat([batch.values, noise], dim=1),  # garbage in the padding frames
        batch.present,
        torch.cat([batch.padding_mask, torch.ones(b, 4, dtype=torch.bool)], dim=1),
    )
    with torch.no_grad():
        short, long = encoder(batch), encoder(padded)
    torch.testing.assert_close(long.pooled, short.pooled, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(long.tokens[:, :t], short.tokens, rtol=1e-5, atol=1e-6)
    assert long.tokens[:, t:].abs().sum() == 0


@pytest.mark.parametrize("temporal", ["mean", "attention", "transformer"])
def test_all_absent_batch_is_finite(temporal):
    features = make(temporal, out_dim=6)(clips([None, None]))
    assert features.present.tolist() == [False, False]
    assert torch.isfinite(features.pooled).all()
    assert torch.isfinite(features.tokens).all()


@pytest.mark.parametrize("temporal", ["mean", "attention", "transformer"])
def test_gradients_reach_the_frame_encoder_and_the_temporal_layers(temporal):
    encoder = make(temporal, out_dim=6).train()
    encoder(clips([3, 1, None])).pooled.square().sum().backward()
    grads = {name: p.grad for name, p in encoder.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["frames.proj.weight"].abs().sum() > 0
    assert grads["proj.weight"].abs().sum() > 0
    if temporal == "transformer":
        assert grads["position.weight"][:3].abs().sum() > 0


def test_frame_encoder_is_built_from_the_registry_with_an_image_spec():
    encoder = make(out_dim=None)
    assert isinstance(encoder.frames, CNNEncoder)
    assert encoder.frames.spec.kind == "image"
    assert encoder.frames.spec.shape == (3, 12, 12)
    assert encoder.frames.out_dim == 8
    assert encoder.proj is None


def test_config_errors_are_reported_as_config_errors():
    cases = {
        "frame_encoder: unknown encoder 'nope'": {"frame_encoder": "nope"},
        "frame_encoder_params.wrong": {"frame_encoder_params": {"wrong": 1}},
        "frame_encoder 'text_gru'": {"frame_encoder": "text_gru", "frame_encoder_params": None},
        "must be an image encoder": {"frame_encoder": "video"},
        "divisible by heads": {"temporal": "transformer", "out_dim": 6, "heads": 4},
        "layers: Input should be greater than or equal to 1": {"layers": 0},
    }
    for message, params in cases.items():
        with pytest.raises(ConfigError, match=message):
            make(**params)
    with pytest.raises(ConfigError, match=r"shape \(-1, C, H, W\)"):
        ENCODERS.create("video", spec=ModalitySpec("img", "image", (3, 12, 12)))


def test_data_errors_for_wrong_frames_and_too_many_frames():
    encoder = make("transformer", out_dim=6, max_frames=4)
    with pytest.raises(DataError, match="longer than max_frames=4"):
        encoder(clips([5]))
    wrong = ModalityBatch(torch.zeros(1, 2, 3, 8, 8), torch.tensor([True]))
    with pytest.raises(DataError, match=r"expected frames \[B, T, 3, 12, 12\]"):
        encoder(wrong)


def test_builds_inside_a_model_from_a_config():
    info = DatasetInfo("clips", {"clip": SPEC}, TaskSpec("multiclass", 3))
    config = ModelConfig.model_validate(
        {
            "encoders": {
                "clip": {
                    "name": "video",
                    "frame_encoder": "cnn",
                    "frame_encoder_params": {"out_dim": 8, "channels": 4},
                    "temporal": "attention",
                }
            }
        }
    )
    model = build_model(config, info).eval()
    batch = Batch(["a", "b"], {"clip": clips([2, None])})
    assert model(batch).output.shape == (2, 3)
