"""The data contracts every part of polymodal shares.

Shape letters: B = batch, T = tokens / time steps, D = feature width, C = channels,
H x W = image size, F = tabular features, M = mel bins.

Per-sample values after preprocessing, by modality kind:

========  ==========================  ==============================
kind      one sample                  batched ``ModalityBatch.values``
========  ==========================  ==============================
text      int64 ``[T]`` token ids      int64 ``[B, T]`` (padded with ``pad_id``)
image     float32 ``[C, H, W]``        float32 ``[B, C, H, W]``
audio     float32 ``[T, M]`` log-mel   float32 ``[B, T, M]``
video     float32 ``[T, C, H, W]``     float32 ``[B, T, C, H, W]``
tabular   float32 ``[F]``              float32 ``[B, F]``
========  ==========================  ==============================

Masks use one convention everywhere: ``present[b]`` is True when sample ``b`` has the modality;
``padding_mask[b, t]`` is True where position ``t`` is *padding* (PyTorch's
``key_padding_mask`` convention). A missing modality is a first-class state: its values are zeros
that must never be read as data, and, for sequences, exactly one non-padding position is kept so
that no attention row is empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

ModalityKind = Literal["text", "image", "audio", "video", "tabular"]
MODALITY_KINDS: tuple[str, ...] = ("text", "image", "audio", "video", "tabular")
TaskType = Literal["multiclass", "multilabel", "regression", "none", "generation"]


@dataclass(frozen=True)
class ModalitySpec:
    """What one modality of a dataset looks like after preprocessing.

    Attributes:
        name: the modality's key in samples and batches (a dataset may have two of one kind,
            e.g. ``text_en`` and ``text_zh``).
        kind: one of :data:`MODALITY_KINDS`.
        shape: per-sample shape; ``-1`` marks the variable-length (padded) dimension, e.g.
            ``(-1,)`` for token ids, ``(-1, 64)`` for log-mel, ``(1, 28, 28)`` for an image.
        vocab_size: number of token ids (text only).
        pad_id: value used to pad token ids (text only).
        meta: free-form facts (sample rate, tokenizer name, ...), JSON-serialisable.
    """

    name: str
    kind: ModalityKind
    shape: tuple[int, ...]
    vocab_size: int | None = None
    pad_id: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_sequence(self) -> bool:
        """True when the first dimension has variable length and batches carry a padding mask."""
        return len(self.shape) > 0 and self.shape[0] == -1


@dataclass(frozen=True)
class TaskSpec:
    """The prediction task.

    Attributes:
        type: ``multiclass`` (target int64 ``[]``), ``multilabel`` (float32 ``[L]`` of 0/1),
            ``regression`` (float32 ``[K]``), or ``none``: no target (every sample's target is
            None, batches' ``Batch.target`` too); only contrastive objectives train on it,
            e.g. ``TaskSpec("none", 0)`` for unlabelled image-caption pairs; or ``generation``:
            the target is text, one or more reference strings per sample
            (``Sample.references``; ``Sample.target`` None), e.g. ``TaskSpec("generation", 0)``.
        num_outputs: classes, labels or regression targets; the width of the model's output
            (0 for ``none``).
        class_names: names of classes or labels, when known.
        target_names: names of regression targets, when known.
    """

    type: TaskType
    num_outputs: int
    class_names: tuple[str, ...] | None = None
    target_names: tuple[str, ...] | None = None


@dataclass
class DatasetInfo:
    """A dataset's modalities and task."""

    name: str
    modalities: dict[str, ModalitySpec]
    task: TaskSpec
    description: str = ""


@dataclass
class Sample:
    """One preprocessed sample.

    Attributes:
        id: unique identifier (string) within the dataset.
        inputs: modality name -> per-sample tensor (see the table above), or None when missing.
        target: int64 ``[]`` (multiclass), float32 ``[L]`` (multilabel), float32 ``[K]``
            (regression), or None for unlabelled data and for generation.
        references: generation only: the sample's reference texts (at least one), else None.
    """

    id: str
    inputs: dict[str, Tensor | None]
    target: Tensor | None = None
    references: tuple[str, ...] | None = None


@dataclass
class ModalityBatch:
    """A batch of one modality.

    Attributes:
        values: batched values (see the table above); zeros where ``present`` is False.
        present: bool ``[B]``.
        padding_mask: bool ``[B, T]``, True at padding; None for fixed-size modalities.
    """

    values: Tensor
    present: Tensor
    padding_mask: Tensor | None = None

    def to(self, device: torch.device | str) -> ModalityBatch:
        return ModalityBatch(
            self.values.to(device),
            self.present.to(device),
            None if self.padding_mask is None else self.padding_mask.to(device),
        )

    def __len__(self) -> int:
        return int(self.present.shape[0])


@dataclass
class Batch:
    """A collated batch: ids, one :class:`ModalityBatch` per modality, and targets (and, for
    generation, each sample's reference texts)."""

    ids: list[str]
    inputs: dict[str, ModalityBatch]
    target: Tensor | None = None
    references: list[tuple[str, ...]] | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            list(self.ids),
            {k: v.to(device) for k, v in self.inputs.items()},
            None if self.target is None else self.target.to(device),
            self.references,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def modalities(self) -> Iterator[str]:
        return iter(self.inputs)


@dataclass
class Features:
    """What an encoder (or interaction layer) gives for one modality.

    Attributes:
        tokens: float ``[B, T, D]`` (T = 1 for encoders without a sequence).
        pooled: float ``[B, D]``.
        padding_mask: bool ``[B, T]``, True at padding.
        present: bool ``[B]``.
    """

    tokens: Tensor
    pooled: Tensor
    padding_mask: Tensor
    present: Tensor

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[-1])


@dataclass
class ModelOutput:
    """What a model returns.

    Attributes:
        output: the head's output: logits ``[B, C]`` (classification), scores ``[B, K]``
            (regression) or embeddings.
        features: the per-modality features that produced it (after interaction).
        extras: anything a fusion or objective wants to expose (e.g. per-modality logits).
    """

    output: Tensor
    features: dict[str, Features] = field(default_factory=dict)
    extras: dict[str, Tensor] = field(default_factory=dict)
