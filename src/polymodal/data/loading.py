"""Build a configured dataset and the data loaders that feed training and evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from polymodal.config import DataConfig
from polymodal.data.bundle import DataBundle
from polymodal.data.collate import Collator
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.registry import DATASETS


def build_data(config: DataConfig, *, seed: int, state: dict[str, Any] | None = None) -> DataBundle:
    """Build the dataset named in ``config`` with its parameters.

    Args:
        config: the ``data`` section of an experiment.
        seed: seed of any random split or generation.
        state: preprocessing state saved by an earlier build (e.g. a vocabulary), to reproduce it.
    """
    return DATASETS.create(config.name, seed=seed, state=state, **config.params)


class EpochSeededSampler(Sampler[int]):
    """Shuffles with a permutation that depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` at the start of every epoch, so a run resumed from a
    checkpoint sees exactly the batches an uninterrupted run would.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def make_dataloader(
    dataset: Dataset[Sample],
    specs: dict[str, ModalitySpec],
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A DataLoader collating :class:`Sample` into :class:`Batch` for the ``specs`` modalities.

    ``collate_fn`` replaces the default :class:`Collator` (e.g. one that reads cached features);
    the sampler stays the same, so the batches do too.
    """
    sampler = EpochSeededSampler(len(dataset), seed) if shuffle else None  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_fn or Collator(specs),
        persistent_workers=num_workers > 0,
    )
