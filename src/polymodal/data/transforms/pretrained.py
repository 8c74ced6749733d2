"""The preprocessing that comes with a pretrained checkpoint.

A pretrained encoder only works on inputs prepared the way it was trained, so each checkpoint
brings its preprocessing (like open_clip's ``create_model_and_transforms``):

* text: the checkpoint's tokenizer, :func:`checkpoint_tokenizer` (an
  :class:`~polymodal.data.transforms.text.HFTokenizer`): ``str -> int64 [T]`` with the model's
  special tokens (``[CLS] ... [SEP]``); the ``hf`` encoder gets ``attention_mask = ~padding_mask``.
* image: :class:`PretrainedImageTransform`, the resize / centre crop / rescale / normalise of the
  checkpoint's ``preprocessor_config.json`` (or a named :func:`image_preset`), implemented with
  Pillow and torch (no torchvision) and checked against transformers' PIL image processors:
  ``[C, H, W]`` in [0, 1] (or a Pillow image) -> float32 ``[3, H', W']``.
* audio: :class:`PretrainedAudioTransform`, a mono waveform ``[L]`` at the checkpoint's sample
  rate -> what the model reads:

  - wav2vec2-like (``Wav2Vec2FeatureExtractor``): the raw waveform ``[L]``, normalised to zero
    mean and unit variance per utterance when the config says ``do_normalize``; the modality is a
    sequence, spec shape ``(-1,)``, and the encoder derives the frame padding mask.
  - AST (``ASTFeatureExtractor``) and Whisper (``WhisperFeatureExtractor``): their log-mel
    features, computed by transformers' own feature extractor classes (they import and run without
    torchaudio or torchvision: numpy implementations), as ``[T, M]`` frames: AST
    ``[max_length, num_mel_bins]`` (1024 x 128), Whisper ``[3000, 80]`` (30 s, zero-padded; the
    ``hf`` encoder transposes to Whisper's ``[M, T]``). Both are fixed-size: spec shape
    ``(T, M)``.

:attr:`PretrainedImageTransform.spec_shape` and :attr:`PretrainedAudioTransform.spec_shape` give
the :class:`~polymodal.data.schema.ModalitySpec` shape the data side should declare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from polymodal.data.transforms.image import normalize_image
from polymodal.data.transforms.text import HFTokenizer
from polymodal.errors import CheckpointError, DataError
from polymodal.sources import ResolvedCheckpoint, resolve_checkpoint

PREPROCESSOR_CONFIG = "preprocessor_config.json"

ResizeMode = Literal["shortest_edge", "exact", "none"]
# Pillow resampling filters by the integer codes Hugging Face configs use
_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def _preprocessor_config(resolved: ResolvedCheckpoint) -> dict[str, Any]:
    """The parsed ``preprocessor_config.json`` of a checkpoint folder or Hub id."""
    if resolved.is_local:
        path = resolved.path / PREPROCESSOR_CONFIG
        if not path.is_file():
            raise CheckpointError(
                f"the checkpoint has no {PREPROCESSOR_CONFIG}",
                where=str(resolved.path),
                fix=f"give a checkpoint folder with {PREPROCESSOR_CONFIG}, or build the transform "
                "by hand (PretrainedImageTransform(...) or image_preset(...))",
            )
    else:
        from transformers.utils import cached_file  # heavy: imported only when used

        try:
            path = cached_file(resolved.location, PREPROCESSOR_CONFIG)
        except OSError as exc:
            raise CheckpointError(
                f"cannot fetch {PREPROCESSOR_CONFIG} of Hub model {resolved.location!r} ({exc})",
                fix="download the model to a local folder and give its path",
            ) from None
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"cannot read {PREPROCESSOR_CONFIG} ({exc})", where=str(path), fix="repair the file"
        ) from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{PREPROCESSOR_CONFIG} is not a JSON object", where=str(path))
    return config


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def checkpoint_tokenizer(checkpoint: str) -> HFTokenizer:
    """The tokenizer of ``checkpoint`` (a folder, a Hub id or ``package:NAME/sub``).

    The tokenizer's state records the *resolved* path or Hub id (what ``AutoTokenizer`` reads).

    Raises:
        CheckpointError: the reference cannot be resolved.
        DataError: the folder holds no loadable tokenizer.
    """
    resolved = resolve_checkpoint(checkpoint)
    return HFTokenizer(resolved.location, local_files_only=resolved.is_local)


# ---------------------------------------------------------------------------------------------
# Image
# ---------------------------------------------------------------------------------------------


def _to_pil(image: Tensor | Image.Image, convert_rgb: bool) -> Image.Image:
    """A Pillow image from ``[C, H, W]`` (float in [0, 1] or uint8) or a Pillow image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB") if convert_rgb and image.mode != "RGB" else image
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise DataError(
            f"expected an image [C, H, W] with C = 1 or 3, got shape {tuple(image.shape)}",
            fix="load images with polymodal.data.loaders.image.load_image",
        )
    if image.dtype != torch.uint8:  # [0, 1] floats: back to the 8-bit values they came from
        image = (image.float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    if image.shape[0] == 1 and convert_rgb:
        image = image.expand(3, -1, -1)  # [1, H, W] -> [3, H, W]
    array = image.permute(1, 2, 0).contiguous().numpy()  # [H, W, C]
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def _shortest_edge_size(height: int, width: int, shortest: int) -> tuple[int, int]:
    """``(H', W')`` with the short side ``shortest`` and the long side truncated to keep the
    aspect ratio (Hugging Face's ``get_resize_output_image_size``)."""
    if width <= height:
        return int(shortest * height / width), shortest
    return shortest, int(shortest * width / height)


def center_crop(image: Tensor, size: tuple[int, int]) -> Tensor:
    """The centre ``size = (h, w)`` of ``image [C, H, W]``, top-left at ``((H - h) // 2,
    (W - w) // 2)``; an image smaller than the crop is zero-padded around first."""
    crop_h, crop_w = size
    height, width = image.shape[-2:]
    pad_h, pad_w = max(crop_h - height, 0), max(crop_w - width, 0)
    if pad_h or pad_w:
        pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
        image = torch.nn.functional.pad(image, pads)  # [C, max(H, h), max(W, w)]
        height, width = image.shape[-2:]
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return image[..., top : top + crop_h, left : left + crop_w]  # [C, h, w]


@dataclass(frozen=True)
class PretrainedImageTransform:
    """Resize, centre-crop, rescale and normalise an image as a checkpoint expects.

    Steps (each optional), on 8-bit values as Hugging Face processors do:

    1. convert to RGB (``convert_rgb``; grey images are repeated to 3 channels);
    2. resize with Pillow's ``resample`` filter: ``shortest_edge`` (short side to ``size``,
       aspect ratio kept, long side truncated) or ``exact`` (to ``size = (H, W)``);
    3. centre crop to ``crop = (h, w)``;
    4. ``value * rescale`` (``1/255`` maps 8-bit values to [0, 1]);
    5. ``(value - mean[c]) / std[c]``.

    Input: float ``[C, H, W]`` in [0, 1] (what the image loader gives; converted back to the
    8-bit values it was decoded from), uint8 ``[C, H, W]`` or a Pillow image. Output: float32
    ``[3, h, w]``.

    Example:
        >>> t = image_preset("efficientnet_lite")
        >>> t(torch.rand(3, 300, 400)).shape
        torch.Size([3, 224, 224])
    """

    resize: ResizeMode = "exact"
    size: tuple[int, int] | int = (224, 224)
    resample: int = 2
    crop: tuple[int, int] | None = None
    rescale: float | None = 1.0 / 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    convert_rgb: bool = True

    def __post_init__(self) -> None:
        if self.resample not in _RESAMPLE_NAMES:
            raise DataError(
                f"unknown resample filter {self.resample!r}",
                fix=f"use one of {sorted(_RESAMPLE_NAMES)} ({_RESAMPLE_NAMES})",
            )
        if (self.mean is None) != (self.std is None):
            raise DataError("give both mean and std, or neither", fix="add the missing one")
        if self.resize == "shortest_edge" and not isinstance(self.size, int):
            raise DataError(f"shortest_edge resizing needs one int size, got {self.size!r}")
        if self.resize == "exact" and (isinstance(self.size, int) or len(self.size) != 2):
            raise DataError(f"exact resizing needs size (H, W), got {self.size!r}")

    @property
    def spec_shape(self) -> tuple[int, int, int] | None:
        """The fixed output shape ``(3, h, w)``, or None when it depends on the input."""
        if self.crop is not None:
            return (3, *self.crop)
        if self.resize == "exact" and not isinstance(self.size, int):
            return (3, *self.size)
        return None

    def __call__(self, image: Tensor | Image.Image) -> Tensor:
        pil = _to_pil(image, self.convert_rgb)
        if self.resize == "shortest_edge":
            assert isinstance(self.size, int)
            height, width = _shortest_edge_size(pil.height, pil.width, self.size)
            pil = pil.resize((width, height), resample=self.resample)
        elif self.resize == "exact":
            assert not isinstance(self.size, int)
            pil = pil.resize((self.size[1], self.size[0]), resample=self.resample)
        array = np.asarray(pil, dtype=np.float32)  # [H, W, C] or [H, W]
        out = torch.from_numpy(array.reshape(array.shape[0], array.shape[1], -1).copy())
        out = out.permute(2, 0, 1)  # [H, W, C] -> [C, H, W]
        if self.crop is not None:
            out = center_crop(out, self.crop)  # [C, h, w]
        if self.rescale is not None:
            out = out * self.rescale
        if self.mean is not None and self.std is not None:
            out = normalize_image(out, self.mean, self.std)
        return out.contiguous()

    @classmethod
    def from_config(
        cls, config: dict[str, Any], *, where: str = PREPROCESSOR_CONFIG
    ) -> PretrainedImageTransform:
        """Read a Hugging Face image ``preprocessor_config.json`` (ViT, CLIP, DeiT, BEiT, ...).

        ``size`` may be ``{"height", "width"}`` (exact), ``{"shortest_edge"}`` or an int
        (shortest edge when the config centre-crops, else a square).

        Raises:
            DataError: a size form or option this transform does not implement (e.g.
                ``crop_pct``, ``longest_edge``), rather than silently differing from it.
        """
        unsupported = [k for k in ("crop_pct", "do_pad", "do_reduce_labels") if config.get(k)]
        size = config.get("size", 224)
        if isinstance(size, dict) and "longest_edge" in size:
            unsupported.append("size.longest_edge")
        if unsupported:
            raise DataError(
                f"image preprocessing option(s) not implemented: {', '.join(unsupported)}",
                where=where,
                fix="build PretrainedImageTransform(...) by hand with the sizes you need",
            )
        do_crop = bool(config.get("do_center_crop", False))
        resize: ResizeMode = "exact"
        if not config.get("do_resize", True):
            resize, size_value = "none", 0
        elif isinstance(size, int):
            resize, size_value = ("shortest_edge", size) if do_crop else ("exact", (size, size))
        elif isinstance(size, dict) and "shortest_edge" in size:
            resize, size_value = "shortest_edge", int(size["shortest_edge"])
        elif isinstance(size, dict) and {"height", "width"} <= set(size):
            size_value = (int(size["height"]), int(size["width"]))
        else:
            raise DataError(f"unsupported image size {size!r}", where=where)
        crop = None
        if do_crop:
            c = config.get("crop_size", size_value)
            crop = (int(c["height"]), int(c["width"])) if isinstance(c, dict) else (int(c), int(c))
        normalise = bool(config.get("do_normalize", True))
        return cls(
            resize=resize,
            size=size_value,
            resample=int(config.get("resample", 2)),
            crop=crop,
            rescale=float(config.get("rescale_factor", 1 / 255))
            if config.get("do_rescale", True)
            else None,
            mean=tuple(float(v) for v in config["image_mean"]) if normalise else None,
            std=tuple(float(v) for v in config["image_std"]) if normalise else None,
            convert_rgb=bool(config.get("do_convert_rgb", True)),
        )

    @classmethod
    def from_pretrained(cls, checkpoint: str) -> PretrainedImageTransform:
        """The image preprocessing of ``checkpoint``'s ``preprocessor_config.json``."""
        resolved = resolve_checkpoint(checkpoint)
        config = _preprocessor_config(resolved)
        return cls.from_config(config, where=f"{checkpoint}/{PREPROCESSOR_CONFIG}")


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_IMAGE_PRESETS: dict[str, PretrainedImageTransform] = {
    # EfficientNet-Lite (TF weights): bicubic short side 256, centre 224, (x * 255 - 127) / 128
    "efficientnet_lite": PretrainedImageTransform(
        resize="shortest_edge",
        size=256,
        resample=3,
        crop=(224, 224),
        mean=(127 / 255,) * 3,
        std=(128 / 255,) * 3,
    ),
    # the usual torchvision ImageNet evaluation: bilinear short side 256, centre 224
    "imagenet": PretrainedImageTransform(
        resize="shortest_edge",
        size=256,
        resample=2,
        crop=(224, 224),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ),
}


def image_preset(name: str) -> PretrainedImageTransform:
    """A named image preprocessing: ``efficientnet_lite`` or ``imagenet``."""
    if name not in _IMAGE_PRESETS:
        raise DataError(
            f"unknown image preset {name!r}", fix=f"use one of: {', '.join(sorted(_IMAGE_PRESETS))}"
        )
    return _IMAGE_PRESETS[name]


# ---------------------------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------------------------


def normalize_waveform(waveform: Tensor, eps: float = 1e-7) -> Tensor:
    """Zero mean, unit variance: ``(x - mean(x)) / sqrt(var(x) + eps)`` over ``[L]`` (population
    variance), as ``Wav2Vec2FeatureExtractor`` with ``do_normalize``."""
    x = waveform.double()
    return ((x - x.mean()) / torch.sqrt(x.var(unbiased=False) + eps)).float()


class PretrainedAudioTransform:
    """A mono waveform ``[L]`` -> what a pretrained audio model reads (see the module docs).

    Args:
        kind: ``waveform`` (wav2vec2-like: ``[L]``) or ``features`` (a transformers feature
            extractor: ``[T, M]``).
        sample_rate: the rate, in Hz, the model expects; load audio at this rate.
        normalize: ``waveform`` only: zero mean / unit variance per utterance.
        extractor: ``features`` only: a transformers feature extractor object.
    """

    def __init__(
        self,
        kind: Literal["waveform", "features"],
        sample_rate: int,
        *,
        normalize: bool = True,
        extractor: Any = None,
    ) -> None:
        if kind == "features" and extractor is None:
            raise DataError("a features audio transform needs a feature extractor")
        self.kind = kind
        self.sample_rate = int(sample_rate)
        self.normalize = normalize
        self.extractor = extractor
        self.channels_first = type(extractor).__name__.startswith("Whisper")

    @property
    def spec_shape(self) -> tuple[int, ...]:
        """``(-1,)`` for waveforms; ``(T, M)`` for features of a fixed number of frames (AST,
        Whisper pad or cut to it), ``(-1, M)`` when the frame count follows the input length.
        Found by running the extractor on 0.1 s and 0.2 s of silence."""
        if self.kind == "waveform":
            return (-1,)
        short = self(torch.zeros(max(self.sample_rate // 10, 1)))  # [T1, M]
        long = self(torch.zeros(max(self.sample_rate // 5, 2)))  # [T2, M]
        frames = int(short.shape[0]) if short.shape[0] == long.shape[0] else -1
        return (frames, int(short.shape[1]))

    def __call__(self, waveform: Tensor) -> Tensor:
        if waveform.ndim != 1:
            raise DataError(
                f"expected a mono waveform [L], got shape {tuple(waveform.shape)}",
                fix="load audio with polymodal.data.loaders.audio.load_audio",
            )
        if self.kind == "waveform":
            return normalize_waveform(waveform) if self.normalize else waveform.float()
        array = waveform.detach().cpu().numpy().astype(np.float32)
        out = self.extractor(array, sampling_rate=self.sample_rate, return_tensors="np")
        name = getattr(self.extractor, "model_input_names", ["input_features"])[0]
        feats = torch.from_numpy(np.asarray(out[name][0], dtype=np.float32))
        return feats.transpose(0, 1).contiguous() if self.channels_first else feats  # [T, M]

    @classmethod
    def from_pretrained(cls, checkpoint: str) -> PretrainedAudioTransform:
        """The audio preprocessing of ``checkpoint``'s ``preprocessor_config.json``.

        Raises:
            CheckpointError: no preprocessor config, or a feature extractor that cannot load.
        """
        resolved = resolve_checkpoint(checkpoint)
        config = _preprocessor_config(resolved)
        kind = str(config.get("feature_extractor_type", ""))
        rate = int(config.get("sampling_rate", 16000))
        if kind == "Wav2Vec2FeatureExtractor":
            return cls("waveform", rate, normalize=bool(config.get("do_normalize", True)))
        from transformers import AutoFeatureExtractor  # heavy: imported only when used

        try:
            extractor = AutoFeatureExtractor.from_pretrained(
                resolved.location, local_files_only=resolved.is_local
            )
        except (OSError, ValueError, ImportError) as exc:
            raise CheckpointError(
                f"cannot load the audio feature extractor {kind or '(unnamed)'} ({exc})",
                where=checkpoint,
                fix="use a checkpoint whose feature extractor runs without torchaudio "
                "(wav2vec2, AST, Whisper)",
            ) from None
        return cls("features", rate, extractor=extractor)


def pretrained_transform(checkpoint: str, kind: Literal["text", "image", "audio"]) -> Any:
    """The preprocessing of ``checkpoint`` for a modality of ``kind``: a tokenizer (text), a
    :class:`PretrainedImageTransform` (image) or a :class:`PretrainedAudioTransform` (audio)."""
    if kind == "text":
        return checkpoint_tokenizer(checkpoint)
    if kind == "image":
        return PretrainedImageTransform.from_pretrained(checkpoint)
    if kind == "audio":
        return PretrainedAudioTransform.from_pretrained(checkpoint)
    raise DataError(
        f"no pretrained preprocessing for kind {kind!r}", fix="use text, image or audio"
    )


__all__ = [
    "PretrainedAudioTransform",
    "PretrainedImageTransform",
    "center_crop",
    "checkpoint_tokenizer",
    "image_preset",
    "normalize_waveform",
    "pretrained_transform",
]
