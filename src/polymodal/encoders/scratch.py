"""Small encoders trained from zero: ``mlp``, ``cnn``, ``audio_conv``, ``audio_gru``,
``text_transformer`` and ``text_gru``.

Every encoder maps a :class:`ModalityBatch` to :class:`Features` with ``tokens [B, T, D]``,
``pooled [B, D]``, ``padding_mask [B, T]`` (True at padding) and ``present [B]``, where
``D = out_dim``. Sequence encoders pool with a masked mean over non-padding positions, so appending
padding never changes ``pooled``; token vectors at padding positions are set to zero. Absent
samples (``present`` False) are encoded like any other input (their values are zeros and, for
sequences, one non-padding position), which keeps every value finite; fusions and interactions
read ``present`` to ignore them.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from polymodal.data.schema import Features, ModalityBatch, ModalitySpec
from polymodal.encoders.base import Encoder
from polymodal.errors import ConfigError, DataError
from polymodal.nn import lengths_of, masked_mean, no_padding, zero_padding
from polymodal.registry import ENCODERS, Dropout, NonNegative, Positive


def _unfit(encoder: str, spec: ModalitySpec, expected: str) -> ConfigError:
    return ConfigError(
        [
            f"encoder {encoder!r} needs {expected}; modality {spec.name!r} has kind "
            f"{spec.kind!r} and shape {tuple(spec.shape)}"
        ]
    )


def _text_vocab(encoder: str, spec: ModalitySpec) -> int:
    if spec.kind != "text" or not spec.is_sequence:
        raise _unfit(encoder, spec, "a text modality of token ids with shape (-1,)")
    if spec.vocab_size is None or spec.vocab_size < 1:
        raise ConfigError(
            [f"encoder {encoder!r}: modality {spec.name!r} has no vocab_size in its spec"]
        )
    if not 0 <= spec.pad_id < spec.vocab_size:
        raise ConfigError(
            [
                f"encoder {encoder!r}: pad_id {spec.pad_id} of modality {spec.name!r} is "
                f"outside the vocabulary [0, {spec.vocab_size})"
            ]
        )
    return spec.vocab_size


class _PackedGRU(nn.Module):
    """A (bi)GRU run on packed sequences, so padding never enters the recurrence.

    ``forward(x [B, T, I], padding_mask [B, T] | None) -> [B, T, H * directions]``, zeros at
    padding. Assumes right padding.
    """

    def __init__(
        self, input_dim: int, hidden_dim: int, num_layers: int, bidirectional: bool, dropout: float
    ) -> None:
        super().__init__()
        self.gru = nn.GRU(
            input_dim,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.out_dim = hidden_dim * (2 if bidirectional else 1)

    def forward(self, x: Tensor, padding_mask: Tensor | None) -> Tensor:
        b, t = x.shape[:2]
        lengths = lengths_of(padding_mask, b, t, x.device)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # [B, T, H*dirs]
        return out


@ENCODERS.register("mlp")
class MLPEncoder(Encoder):
    """A multilayer perceptron over a fixed-size modality (tabular ``[B, F]``, or an image
    ``[B, C, H, W]`` flattened to ``[B, C*H*W]``).

    Layers: ``num_layers`` x (Linear -> ReLU -> Dropout) of width ``hidden_dim``, then Linear to
    ``out_dim``. Output: ``tokens [B, 1, out_dim]`` (T = 1), ``pooled [B, out_dim]``.

    Args:
        spec: the modality (injected); its shape must have no variable dimension.
        out_dim: width of the features.
        hidden_dim: width of the hidden layers.
        num_layers: number of hidden layers (0: one linear map).
        dropout: dropout after each hidden layer.
    """

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: Positive = 64,
        hidden_dim: Positive = 128,
        num_layers: NonNegative = 2,
        dropout: Dropout = 0.1,
    ) -> None:
        super().__init__(spec)
        if spec.is_sequence or not spec.shape or any(d < 1 for d in spec.shape):
            raise _unfit("mlp", spec, "a fixed-size modality (no -1 dimension)")
        self.in_features = math.prod(spec.shape)
        self.out_dim = out_dim
        layers: list[nn.Module] = []
        width = self.in_features
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, batch: ModalityBatch) -> Features:
        b = len(batch)
        x = batch.values.reshape(b, -1).float()  # [B, F]
        if x.shape[1] != self.in_features:
            raise DataError(
                f"expected {self.in_features} values per sample, got {x.shape[1]}",
                where=f"modality {self.modality!r} (encoder 'mlp')",
                fix=f"make every sample of shape {tuple(self.spec.shape)}",
            )
        pooled = self.net(x)  # [B, D]
        return Features(
            tokens=pooled.unsqueeze(1),  # [B, 1, D]
            pooled=pooled,
            padding_mask=no_padding(b, 1, pooled.device),
            present=batch.present,
        )


@ENCODERS.register("cnn")
class CNNEncoder(Encoder):
    """A small convolutional net over images ``[B, C, H, W]``.

    ``num_blocks`` blocks of Conv3x3 -> GroupNorm -> ReLU -> MaxPool2x2 (``ceil_mode``, so odd
    and 1-pixel maps work), widths ``channels * 2**i``. A final map larger than
    ``max_grid x max_grid`` (e.g. from a 224x224 input) is average-pooled down to it. Tokens are
    the spatial positions of the last map, projected to ``out_dim``: ``tokens [B, H'W', out_dim]``,
    ``pooled`` = their mean, no padding. GroupNorm (Wu & He, 2018) keeps each sample's features
    independent of the rest of the batch, absent samples included.

    Args:
        spec: the modality (injected); shape ``(C, H, W)``.
        out_dim: width of the features.
        channels: width of the first block (doubles at each block).
        num_blocks: number of conv blocks.
        max_grid: largest side of the token grid.
        dropout: dropout on the tokens before the projection.
    """

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: Positive = 64,
        channels: Positive = 32,
        num_blocks: Positive = 3,
        max_grid: Positive = 7,
        dropout: Dropout = 0.1,
    ) -> None:
        super().__init__(spec)
        if spec.is_sequence or len(spec.shape) != 3 or any(d < 1 for d in spec.shape):
            raise _unfit("cnn", spec, "an image modality of shape (C, H, W)")
        self.out_dim = out_dim
        self.max_grid = max_grid
        blocks: list[nn.Module] = []
        width = spec.shape[0]
        for i in range(num_blocks):
            out = channels * 2**i
            blocks += [
                nn.Conv2d(width, out, kernel_size=3, padding=1, bias=False),
                nn.GroupNorm(math.gcd(8, out), out),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width = out
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(width, out_dim)

    def forward(self, batch: ModalityBatch) -> Features:
        x = self.blocks(batch.values.float())  # [B, C', H', W']
        h, w = x.shape[-2:]
        if h > self.max_grid or w > self.max_grid:
            x = F.adaptive_avg_pool2d(x, (min(h, self.max_grid), min(w, self.max_grid)))
        tokens = x.flatten(2).transpose(1, 2)  # [B, H'W', C']
        tokens = self.proj(self.dropout(tokens))  # [B, H'W', D]
        return Features(
            tokens=tokens,
            pooled=tokens.mean(dim=1),
            padding_mask=no_padding(tokens.shape[0], tokens.shape[1], tokens.device),
            present=batch.present,
        )


@ENCODERS.register("audio_conv")
class AudioConvEncoder(Encoder):
    """Strided 1-D convolutions over time of a log-mel spectrogram ``[B, T, M]`` (channels =
    mel bins), or of a plain waveform ``[B, T]`` (one channel).

    The modality's shape may be padded (``(-1, M)``, ``(-1,)``: batches carry a padding mask) or
    fixed (``(T, M)``, ``(T,)``: a fixed-length feature array or waveform, every frame data).

    Each of ``num_layers`` layers: Conv1d(kernel ``k`` odd, ``stride``, padding ``k // 2``) ->
    LayerNorm over channels -> ReLU -> Dropout. Padding frames are zeroed before every layer, so a
    valid output frame reads the same values (zeros past the end) however much padding follows.
    A layer maps ``T`` frames to ``ceil(T / stride)`` and the padding mask is downsampled to
    ``padding_mask[:, ::stride]`` (frame ``j`` is valid iff input frame ``j * stride``, the centre
    of its window, is valid), so a sequence of length ``L`` keeps ``ceil(L / stride)`` valid frames.
    ``tokens [B, T', out_dim]`` (zeros at padding), ``pooled`` = masked mean over valid frames.

    Args:
        spec: the modality (injected); shape ``(-1, M)``, ``(T, M)``, ``(-1,)`` or ``(T,)``.
        out_dim: width of the features.
        channels: width of the conv layers.
        num_layers: number of strided conv layers.
        kernel_size: odd temporal kernel size.
        stride: temporal stride of each layer.
        dropout: dropout after each layer.
    """

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: Positive = 64,
        channels: Positive = 64,
        num_layers: int = 3,
        kernel_size: Positive = 5,
        stride: Positive = 2,
        dropout: Dropout = 0.1,
    ) -> None:
        super().__init__(spec)
        shape = tuple(spec.shape)
        time_ok = len(shape) in (1, 2) and (shape[0] == -1 or shape[0] >= 1)
        if not time_ok or any(d < 1 for d in shape[1:]):
            raise _unfit(
                "audio_conv", spec, "frames of shape (-1, M) or (T, M), or a waveform (-1,) or (T,)"
            )
        if kernel_size % 2 == 0:
            raise ConfigError([f"encoder 'audio_conv': kernel_size must be odd, got {kernel_size}"])
        self.out_dim = out_dim
        self.stride = stride
        widths = [shape[1] if len(shape) == 2 else 1] + [channels] * num_layers
        self.convs = nn.ModuleList(
            nn.Conv1d(i, o, kernel_size, stride=stride, padding=kernel_size // 2)
            for i, o in itertools.pairwise(widths)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(widths[-1], out_dim)

    def forward(self, batch: ModalityBatch) -> Features:
        x = batch.values.float()  # [B, T, M], or [B, T] for a waveform
        if x.dim() == 2:
            x = x.unsqueeze(-1)  # [B, T, 1]
        mask = batch.padding_mask
        if mask is None:  # a fixed-length modality: every frame is data
            mask = no_padding(x.shape[0], x.shape[1], x.device)
        x = zero_padding(x, mask)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = conv(x.transpose(1, 2)).transpose(1, 2)  # [B, ceil(T/s), C]
            mask = mask[:, :: self.stride]  # [B, ceil(T/s)]
            x = zero_padding(self.dropout(F.relu(norm(x))), mask)
        tokens = zero_padding(self.proj(x), mask)  # [B, T', D]
        return Features(tokens, masked_mean(tokens, mask), mask, batch.present)


@ENCODERS.register("audio_gru")
class AudioGRUEncoder(Encoder):
    """A (bi)GRU (Cho et al., 2014) over log-mel frames ``[B, T, M]``, on packed sequences so
    padding never enters the recurrence.

    ``tokens [B, T, out_dim]`` = Linear of the GRU outputs (zeros at padding), ``pooled`` = masked
    mean over valid frames, ``padding_mask`` = the input's.

    Args:
        spec: the modality (injected); shape ``(-1, M)``.
        out_dim: width of the features.
        hidden_dim: GRU width per direction.
        num_layers: stacked GRU layers.
        bidirectional: run a backward GRU too.
        dropout: dropout between GRU layers and on the outputs.
    """

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: Positive = 64,
        hidden_dim: Positive = 64,
        num_layers: Positive = 1,
        bidirectional: bool = True,
        dropout: Dropout = 0.1,
    ) -> None:
        super().__init__(spec)
        if len(spec.shape) != 2 or not spec.is_sequence or spec.shape[1] < 1:
            raise _unfit("audio_gru", spec, "a sequence of frames of shape (-1, M)")
        self.out_dim = out_dim
        self.gru = _PackedGRU(spec.shape[1], hidden_dim, num_layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(self.gru.out_dim, out_dim)

    def forward(self, batch: ModalityBatch) -> Features:
        x = batch.values.float()  # [B, T, M]
        mask = batch.padding_mask
        if mask is None:
            mask = no_padding(x.shape[0], x.shape[1], x.device)
        tokens = zero_padding(self.proj(self.dropout(self.gru(x, mask))), mask)  # [B, T, D]
        return Features(tokens, masked_mean(tokens, mask), mask, batch.present)


@ENCODERS.register("text_transformer")
class TextTransformerEncoder(Encoder):
    """Token embedding + learned positions + a pre-LayerNorm Transformer encoder (Vaswani et al.,
    2017) over token ids ``[B, T]``.

    The embedding has ``vocab_size`` and ``padding_idx = pad_id`` from the spec; attention uses
    ``src_key_padding_mask = padding_mask`` so padding keys are never attended to.
    ``tokens [B, T, out_dim]`` (zeros at padding), ``pooled`` = masked mean of the tokens over
    non-padding positions (no [CLS] token), ``padding_mask`` = the input's.

    Args:
        spec: the modality (injected); a text modality with ``vocab_size``.
        out_dim: model width (must be divisible by ``num_heads``).
        num_layers: Transformer layers.
        num_heads: attention heads.
        ff_dim: feed-forward width (None: ``4 * out_dim``).
        dropout: dropout inside the layers.
        max_len: longest sequence (number of learned positions).
    """

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: Positive = 64,
        num_layers: Positive = 2,
        num_heads: Positive = 4,
        ff_dim: int | None = None,
        dropout: Dropout = 0.1,
        max_len: Positive = 512,
    ) -> None:
        super().__init__(spec)
        vocab = _text_vocab("text_transformer", spec)
        if out_dim % num_heads:
            raise ConfigError(
                [
                    f"encoder 'text_transformer': out_dim {out_dim} must be divisible by "
                    f"num_heads {num_heads}"
                ]
            )
        self.out_dim = out_dim
        self.max_len = max_len
        self.embed = nn.Embedding(vocab, out_dim, padding_idx=spec.pad_id)
        self.position = nn.Embedding(max_len, out_dim)
        layer = nn.TransformerEncoderLayer(
            out_dim,
            num_heads,
            dim_feedforward=ff_dim or 4 * out_dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(out_dim), enable_nested_tensor=False
        )

    def forward(self, batch: ModalityBatch) -> Features:
        ids = batch.values.long()  # [B, T]
        b, t = ids.shape
        if t > self.max_len:
            raise DataError(
                f"sequence of {t} tokens is longer than max_len={self.max_len}",
                where=f"modality {self.modality!r} (encoder 'text_transformer')",
                fix="raise the encoder's max_len or truncate the text in preprocessing",
            )
        mask = (
            batch.padding_mask if batch.padding_mask is not None else no_padding(b, t, ids.device)
        )
        positions = torch.arange(t, device=ids.device)  # [T]
        x = self.embed(ids) + self.position(positions).unsqueeze(0)  # [B, T, D]
        x = self.encoder(x, src_key_padding_mask=mask)  # [B, T, D]
        tokens = zero_padding(x, mask)
        return Features(tokens, masked_mean(tokens, mask), mask, batch.present)


@ENCODERS.register("text_gru")
class TextGRUEncoder(Encoder):
    """Token embedding + a (bi)GRU (Cho et al., 2014) on packed sequences over token ids
    ``[B, T]``.

    ``tokens [B, T, out_dim]`` = Linear of the GRU outputs (zeros at padding), ``pooled`` = masked
    mean over non-padding positions, ``padding_mask`` = the input's.

    Args:
        spec: the modality (injected); a text modality with ``vocab_size``.
        out_dim: width of the features.
        embed_dim: token embedding width.
        hidden_dim: GRU width per direction.
        num_layers: stacked GRU layers.
        bidirectional: run a backward GRU too.
        dropout: dropout on embeddings, between GRU layers and on the outputs.
    """

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: Positive = 64,
        embed_dim: Positive = 64,
        hidden_dim: Positive = 64,
        num_layers: Positive = 1,
        bidirectional: bool = True,
        dropout: Dropout = 0.1,
    ) -> None:
        super().__init__(spec)
        vocab = _text_vocab("text_gru", spec)
        self.out_dim = out_dim
        self.embed = nn.Embedding(vocab, embed_dim, padding_idx=spec.pad_id)
        self.gru = _PackedGRU(embed_dim, hidden_dim, num_layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(self.gru.out_dim, out_dim)

    def forward(self, batch: ModalityBatch) -> Features:
        ids = batch.values.long()  # [B, T]
        b, t = ids.shape
        mask = (
            batch.padding_mask if batch.padding_mask is not None else no_padding(b, t, ids.device)
        )
        x = self.dropout(self.embed(ids))  # [B, T, E]
        tokens = zero_padding(self.proj(self.dropout(self.gru(x, mask))), mask)  # [B, T, D]
        return Features(tokens, masked_mean(tokens, mask), mask, batch.present)
