"""The ``video`` encoder: every frame through a registered image encoder, then pooling over time.

Input: ``values [B, T, C, H, W]`` with ``padding_mask [B, T]`` (True at padding frames) and
``present [B]``. The frames of present samples that are not padding are gathered into one batch
``[N, C, H, W]`` and encoded at once by the frame encoder (any registered image encoder, built
through :data:`~polymodal.registry.ENCODERS` with ``ModalitySpec(kind="image", shape=(C, H, W))``);
its ``pooled`` output is the token of that frame. Padding frames and the frames of absent samples
are never encoded: their frame tokens are zeros. Tokens ``[B, T, D_f]`` are then (optionally)
projected to ``out_dim`` and pooled over time, respecting the padding mask:

``mean``
    masked mean of the frame tokens.
``attention``
    learned attention pooling over frames, ``a_t = softmax_t(v^T tanh(W h_t))`` over the
    non-padding frames and ``pooled = sum_t a_t h_t`` (Yang et al., "Hierarchical Attention
    Networks for Document Classification", NAACL 2016).
``transformer``
    learned frame positions, then a small pre-LayerNorm Transformer encoder (Vaswani et al.,
    2017) with ``src_key_padding_mask``, so padding frames are never attended to; then the masked
    mean. ``tokens`` are the Transformer's outputs.

Output: ``tokens [B, T, D]`` (zeros at padding), ``pooled [B, D]``, ``padding_mask`` = the
input's, ``present`` = the input's. Appending padding frames never changes ``pooled`` (up to float
rounding for ``transformer``), as long as the frame encoder treats each image independently of
the rest of its batch (GroupNorm, LayerNorm, or BatchNorm in eval mode).
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, ModalityBatch, ModalitySpec
from polymodal.encoders.base import Encoder
from polymodal.errors import ConfigError, DataError, UnknownComponentError
from polymodal.nn import masked_mean, no_padding, zero_padding
from polymodal.registry import ENCODERS, Dropout, Positive

TemporalKind = Literal["mean", "attention", "transformer"]


def frame_spec(spec: ModalitySpec) -> ModalitySpec:
    """The image spec of one frame of a video modality: shape ``(C, H, W)``, same name."""
    if spec.kind != "video" or len(spec.shape) != 4 or not spec.is_sequence:
        raise ConfigError(
            [
                f"encoder 'video' needs a video modality of shape (-1, C, H, W); modality "
                f"{spec.name!r} has kind {spec.kind!r} and shape {tuple(spec.shape)}"
            ]
        )
    c, h, w = spec.shape[1:]
    if min(c, h, w) < 1:
        raise ConfigError(
            [
                f"encoder 'video': frames of modality {spec.name!r} need a fixed size "
                f"(C, H, W), got {(c, h, w)}: resize frames in preprocessing"
            ]
        )
    return ModalitySpec(spec.name, "image", (c, h, w), meta=dict(spec.meta))


def build_frame_encoder(name: str, params: dict[str, Any], spec: ModalitySpec) -> Encoder:
    """Build image encoder ``name`` with ``params`` for the frames of video ``spec``.

    Raises:
        ConfigError: an unknown or non-image encoder, or parameters it does not accept, with the
            paths ``frame_encoder`` / ``frame_encoder_params.<key>``.
    """
    if name == "video":
        raise ConfigError(["encoder 'video': frame_encoder must be an image encoder, not 'video'"])
    try:
        model = ENCODERS.params_model(name)
    except UnknownComponentError as err:
        known = ", ".join(k for k in err.known if k != "video")
        raise ConfigError(
            [f"encoder 'video': frame_encoder: unknown encoder {name!r}; use one of: {known}"]
        ) from None
    try:
        checked = model.model_validate(params)
    except pydantic.ValidationError as err:
        raise ConfigError(
            [
                f"encoder 'video': frame_encoder_params.{'.'.join(str(p) for p in e['loc'])}: "
                f"{e['msg']} (for frame encoder {name!r})"
                for e in err.errors(include_url=False)
            ]
        ) from None
    kwargs = {key: getattr(checked, key) for key in params}
    try:
        return ENCODERS.create(name, spec=frame_spec(spec), **kwargs)
    except ConfigError as err:
        problems = [f"encoder 'video': frame_encoder {name!r}: {p}" for p in err.problems]
        raise ConfigError(problems) from None


class AttentionPooling(nn.Module):
    """``v^T tanh(W h_t)`` scores, softmax over non-padding steps, weighted sum:
    ``tokens [B, T, D], padding_mask [B, T] -> [B, D]``. A row with no valid step (never made by
    collate) averages its zero tokens, so the result stays finite."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, tokens: Tensor, padding_mask: Tensor) -> Tensor:
        scores = self.score(torch.tanh(self.proj(tokens))).squeeze(-1)  # [B, T]
        scores = scores.masked_fill(padding_mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=1)  # [B, T]
        return (weights.unsqueeze(-1) * zero_padding(tokens, padding_mask)).sum(dim=1)  # [B, D]


@ENCODERS.register("video")
class VideoEncoder(Encoder):
    """Frames ``[B, T, C, H, W]`` through an image encoder, then temporal pooling (see the module
    docs).

    Args:
        spec: the modality (injected); a video of shape ``(-1, C, H, W)``.
        frame_encoder: a registered image encoder (``cnn``, ``efficientnet_lite``, ``hf``, ...).
        frame_encoder_params: its parameters (None: its defaults). A frozen frame encoder (e.g.
            ``efficientnet_lite`` with ``train_mode: frozen``) stays frozen.
        temporal: ``mean``, ``attention`` or ``transformer`` pooling over frames.
        out_dim: width of the features; None keeps the frame encoder's width (no projection),
            otherwise frame tokens are projected by a linear layer.
        layers: Transformer layers (``transformer`` only).
        heads: attention heads (``transformer`` only); must divide the width.
        max_frames: most frames per clip (number of learned positions of ``transformer``).
        dropout: dropout inside the Transformer layers.
    """

    def __init__(
        self,
        spec: ModalitySpec,
        frame_encoder: str = "cnn",
        frame_encoder_params: dict[str, Any] | None = None,
        temporal: TemporalKind = "mean",
        out_dim: Positive | None = None,
        layers: Positive = 1,
        heads: Positive = 4,
        max_frames: Positive = 64,
        dropout: Dropout = 0.1,
    ) -> None:
        super().__init__(spec)
        frames = frame_spec(spec)
        self.frames = build_frame_encoder(frame_encoder, dict(frame_encoder_params or {}), spec)
        self.frame_spec = frames
        width = int(self.frames.out_dim)
        self.proj = None if out_dim is None else nn.Linear(width, out_dim)
        self.out_dim = width if out_dim is None else out_dim
        self.temporal = temporal
        self.max_frames = max_frames
        self.attention = AttentionPooling(self.out_dim) if temporal == "attention" else None
        self.position: nn.Embedding | None = None
        self.transformer: nn.TransformerEncoder | None = None
        if temporal == "transformer":
            if self.out_dim % heads:
                raise ConfigError(
                    [
                        f"encoder 'video': width {self.out_dim} must be divisible by heads "
                        f"{heads} (set out_dim or heads)"
                    ]
                )
            self.position = nn.Embedding(max_frames, self.out_dim)
            layer = nn.TransformerEncoderLayer(
                self.out_dim,
                heads,
                dim_feedforward=4 * self.out_dim,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.transformer = nn.TransformerEncoder(
                layer, layers, norm=nn.LayerNorm(self.out_dim), enable_nested_tensor=False
            )

    def _check(self, values: Tensor) -> None:
        expected = tuple(self.frame_spec.shape)
        if values.ndim != 5 or tuple(values.shape[2:]) != expected:
            raise DataError(
                f"expected frames [B, T, {', '.join(map(str, expected))}], got shape "
                f"{tuple(values.shape)}",
                where=f"modality {self.modality!r} (encoder 'video')",
                fix=f"resize every frame to {expected[1:]} with {expected[0]} channels",
            )
        if self.transformer is not None and values.shape[1] > self.max_frames:
            raise DataError(
                f"clip of {values.shape[1]} frames is longer than max_frames={self.max_frames}",
                where=f"modality {self.modality!r} (encoder 'video')",
                fix="raise the encoder's max_frames or sample fewer frames per clip",
            )

    def frame_tokens(self, batch: ModalityBatch) -> tuple[Tensor, Tensor]:
        """One token per frame, ``[B, T, D_f]`` (zeros for frames not encoded), and the padding
        mask ``[B, T]``."""
        values = batch.values
        self._check(values)
        b, t = values.shape[:2]
        mask = batch.padding_mask
        if mask is None:
            mask = no_padding(b, t, values.device)
        valid = (~mask) & batch.present.to(mask.device).unsqueeze(1)  # [B, T]
        flat = values.reshape(b * t, *values.shape[2:])  # [B*T, C, H, W]
        index = valid.reshape(-1).nonzero().squeeze(1)  # [N] rows of encoded frames
        width = int(self.frames.out_dim)
        if index.numel() == 0:
            return values.new_zeros(b, t, width), mask
        images = flat.index_select(0, index).float()  # [N, C, H, W]
        present = torch.ones(images.shape[0], dtype=torch.bool, device=images.device)
        pooled = self.frames(ModalityBatch(images, present)).pooled  # [N, D_f]
        tokens = pooled.new_zeros(b * t, width).index_copy(0, index, pooled)  # [B*T, D_f]
        return tokens.reshape(b, t, width), mask  # [B, T, D_f]

    def forward(self, batch: ModalityBatch) -> Features:
        tokens, mask = self.frame_tokens(batch)  # [B, T, D_f], [B, T]
        if self.proj is not None:
            tokens = zero_padding(self.proj(tokens), mask)  # [B, T, D]
        if self.transformer is not None and self.position is not None:
            steps = torch.arange(tokens.shape[1], device=tokens.device)  # [T]
            x = tokens + self.position(steps).unsqueeze(0)  # [B, T, D]
            tokens = zero_padding(self.transformer(x, src_key_padding_mask=mask), mask)
        if self.attention is not None:
            pooled = self.attention(tokens, mask)  # [B, D]
        else:
            pooled = masked_mean(tokens, mask)  # [B, D]
        return Features(tokens, pooled, mask, batch.present)
