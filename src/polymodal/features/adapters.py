"""Adapters that let a model read cached features: dataset, batch, collate and encoder stand-in.

For the frozen encoder of modality ``m``::

    dataset = CachedModalityDataset(train_set, {m: cached})  # samples carry CachedItem for m
    collate = CachedCollator(specs, cached=[m])              # batches carry CachedModalityBatch
    model.encoders[m] = CachedEncoder.from_encoder(encoder)   # returns the cached Features

A model whose frozen encoder is swapped for a :class:`CachedEncoder` gives, in eval mode, exactly
the outputs of the original when batches are the ones the cache was computed with, and the same up
to float rounding otherwise (some layers, e.g. convolutions, round differently with the batch
size).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from polymodal.data.collate import collate_samples
from polymodal.data.schema import Batch, Features, ModalityBatch, ModalitySpec, Sample
from polymodal.encoders.base import Encoder
from polymodal.errors import DataError
from polymodal.features.store import CachedFeatures, CachedItem


class CachedModalityDataset(Dataset[Sample]):
    """A dataset whose cached modalities carry :class:`CachedItem` instead of raw inputs.

    ``dataset[i]`` is the wrapped sample with ``inputs[m]`` replaced, for every cached modality
    ``m``, by the cached features of the row of its id (absent samples included: the item's
    ``present`` is False). Collate with :class:`CachedCollator`.

    Args:
        dataset: the split's dataset (the one the features were computed from).
        cached: modality name -> that split's :class:`CachedFeatures`.

    Raises:
        DataError: fewer cached rows than samples (at construction) or a sample's id is not
            cached (on access). More rows are fine: a subset of the split reads its own.
    """

    def __init__(self, dataset: Dataset[Sample], cached: Mapping[str, CachedFeatures]) -> None:
        self.dataset = dataset
        self.cached = dict(cached)
        size = len(dataset)  # type: ignore[arg-type]
        for modality, features in self.cached.items():
            if len(features) < size:  # more rows is fine (a subset of the split): read by id
                raise DataError(
                    f"cached features of modality {modality!r} have {len(features)} rows, the "
                    f"dataset has {size} samples",
                    where=str(features.path),
                    fix="recompute the cache from this dataset (its fingerprint must cover the "
                    "data), or clear the cache",
                )

    @property
    def modalities(self) -> list[str]:
        """The cached modalities."""
        return list(self.cached)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Sample:
        sample = self.dataset[index]
        inputs: dict[str, Any] = dict(sample.inputs)
        for modality, features in self.cached.items():
            inputs[modality] = features[features.row_of(sample.id)]
        return replace(sample, inputs=inputs)  # id, target and references kept


@dataclass
class CachedModalityBatch(ModalityBatch):
    """A batch of cached features, standing where a :class:`ModalityBatch` would.

    ``values`` are the tokens ``[B, T, D]`` (zeros at padding), ``padding_mask`` ``[B, T]``,
    ``present`` ``[B]``, and ``pooled`` ``[B, D]``; :meth:`features` gives them as
    :class:`Features` (what :class:`CachedEncoder` returns).
    """

    pooled: Tensor | None = None

    def to(self, device: torch.device | str) -> CachedModalityBatch:
        return CachedModalityBatch(
            self.values.to(device),
            self.present.to(device),
            None if self.padding_mask is None else self.padding_mask.to(device),
            None if self.pooled is None else self.pooled.to(device),
        )

    def features(self) -> Features:
        if self.pooled is None or self.padding_mask is None:
            raise DataError("a cached batch needs pooled features and a padding mask")
        return Features(self.values, self.pooled, self.padding_mask, self.present)


def collate_cached(items: Sequence[CachedItem], modality: str = "?") -> CachedModalityBatch:
    """Stack cached items; tokens are right-padded with zeros to the longest ``T_i`` (which is
    what the encoder gave for a batch of these samples), padding marked True."""
    if not items or not all(isinstance(item, CachedItem) for item in items):
        raise DataError(
            f"modality {modality!r} is cached but some samples carry no cached features",
            fix="wrap the dataset in CachedModalityDataset before collating with CachedCollator",
        )
    longest = max(int(item.tokens.shape[0]) for item in items)
    first = items[0]
    tokens = first.tokens.new_zeros(len(items), longest, first.tokens.shape[-1])  # [B, T, D]
    mask = torch.ones(len(items), longest, dtype=torch.bool)  # [B, T], True = padding
    for i, item in enumerate(items):
        length = int(item.tokens.shape[0])
        tokens[i, :length] = item.tokens
        mask[i, :length] = item.padding_mask
    pooled = torch.stack([item.pooled for item in items])  # [B, D]
    present = torch.stack([item.present for item in items]).bool()  # [B]
    return CachedModalityBatch(tokens, present, mask, pooled)


def collate_with_cache(
    samples: Sequence[Sample], specs: Mapping[str, ModalitySpec], cached: Iterable[str]
) -> Batch:
    """Like :func:`polymodal.data.collate.collate_samples`, with the ``cached`` modalities
    collated into :class:`CachedModalityBatch` by :func:`collate_cached`."""
    names = list(dict.fromkeys(cached))
    plain = {name: spec for name, spec in specs.items() if name not in names}
    batch = collate_samples(samples, plain)
    for name in names:
        items = [s.inputs.get(name) for s in samples]
        batch.inputs[name] = collate_cached(items, name)  # type: ignore[arg-type]
    return batch


class CachedCollator:
    """Picklable collate function for a :class:`CachedModalityDataset`.

    Args:
        specs: the dataset's modality specs (as for :class:`~polymodal.data.collate.Collator`).
        cached: the cached modalities.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], cached: Iterable[str]) -> None:
        self.specs = dict(specs)
        self.cached = list(cached)

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        return collate_with_cache(samples, self.specs, self.cached)


class CachedEncoder(Encoder):
    """Stands in for a frozen encoder: returns the cached :class:`Features` of the batch.

    It has no parameters and the frozen encoder's ``out_dim``, so fusions and heads built for the
    original model fit unchanged. Its input must be a :class:`CachedModalityBatch` (from
    :class:`CachedCollator`). The features equal the encoder's on the same samples (bit for bit
    when the cache was computed with the same batches; batch composition can change float
    rounding of some layers), except that token positions past a sample's last non-padding
    position are zeros.

    Args:
        spec: the modality (as given to the original encoder).
        out_dim: the original encoder's width.
    """

    def __init__(self, spec: ModalitySpec, out_dim: int) -> None:
        super().__init__(spec)
        self.out_dim = int(out_dim)

    @classmethod
    def from_encoder(cls, encoder: Encoder) -> CachedEncoder:
        """A stand-in with ``encoder``'s spec and width."""
        return cls(encoder.spec, int(encoder.out_dim))

    def forward(self, batch: ModalityBatch) -> Features:
        if not isinstance(batch, CachedModalityBatch):
            raise DataError(
                f"modality {self.modality!r} reached its cached encoder without cached features",
                fix="wrap the dataset in CachedModalityDataset and collate with CachedCollator",
            )
        features = batch.features()
        if features.dim != self.out_dim:
            raise DataError(
                f"cached features of modality {self.modality!r} have width {features.dim}, the "
                f"encoder they replace has {self.out_dim}",
                fix="recompute the cache for this encoder, or clear the cache",
            )
        return features
