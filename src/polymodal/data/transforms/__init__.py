"""Per-modality preprocessing applied after loading.

- image (:mod:`polymodal.data.transforms.image`): bilinear resize to a fixed ``(H, W)`` and
  per-channel normalisation, ``[C, H, W] -> [C, H', W']``.
- text (:mod:`polymodal.data.transforms.text`): tokenisers mapping a string to int64 ids ``[T]``
  (word, character, or a Hugging Face tokenizer); vocabularies are learnt on the training split.
- text options (:mod:`polymodal.data.transforms.text_options`): :class:`TextOptions` and
  :func:`fit_tokenizer` (learn from the training texts, or rebuild from a saved state), shared
  by every dataset that tokenises text.
- audio (``polymodal.data.transforms.audio``): log-mel spectrogram, waveform ``[L] -> [T, M]``;
  :func:`~polymodal.data.transforms.audio.standardize_mels` standardises each mel bin with the
  training split's statistics, or with those of a saved state.
"""

from __future__ import annotations

from polymodal.data.transforms.image import ImageTransform, normalize_image, resize_image
from polymodal.data.transforms.text import (
    CharTokenizer,
    HFTokenizer,
    Tokenizer,
    WordTokenizer,
    build_tokenizer,
    tokenizer_from_state,
)

__all__ = [
    "CharTokenizer",
    "HFTokenizer",
    "ImageTransform",
    "Tokenizer",
    "WordTokenizer",
    "build_tokenizer",
    "normalize_image",
    "resize_image",
    "tokenizer_from_state",
]
