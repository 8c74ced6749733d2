"""A seeded, class-stratified subset of a split: the few-label setting of a two-stage run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from polymodal.data.schema import Sample
from polymodal.errors import DataError


class SubsetDataset(Dataset[Sample]):
    """The samples of ``dataset`` at ``indices`` (in that order). ``item_keys(modality)``
    passes through to the parent when it has them (see
    :meth:`polymodal.data.manifest.ManifestDataset.item_keys`)."""

    def __init__(self, dataset: Dataset[Sample], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.dataset[self.indices[index]]

    def item_keys(self, modality: str) -> list[Any]:
        keys = getattr(self.dataset, "item_keys", None)
        if keys is None:
            return [self.dataset[i].id for i in self.indices]
        parent = keys(modality)
        return [parent[i] for i in self.indices]


def _class_of(sample: Sample) -> Any:
    """The stratum of a sample: its class for a scalar target, else its target's bytes."""
    target = sample.target
    if target is None:
        return None
    if target.ndim == 0:
        return int(target) if not target.is_floating_point() else float(target)
    return target.detach().cpu().numpy().tobytes()


def stratified_subset(dataset: Dataset[Sample], fraction: float, seed: int) -> SubsetDataset:
    """``fraction`` of ``dataset``'s samples, the same share of each class (at least one per
    class), drawn with a generator seeded by ``seed``; kept in the dataset's order.

    Multilabel and regression targets are stratified by their exact value (so, for continuous
    targets, drawn at random overall). With ``fraction`` 1 every sample is kept.

    Raises:
        DataError: ``fraction`` outside (0, 1], or unlabelled samples.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(
            f"label fraction {fraction} is outside (0, 1]",
            where="pretrain.transfer.label_fraction",
            fix="give the share of labelled training rows to keep, e.g. 0.1",
        )
    n = len(dataset)  # type: ignore[arg-type]
    if fraction == 1.0:
        return SubsetDataset(dataset, range(n))
    strata: dict[Any, list[int]] = {}
    for index in range(n):
        stratum = _class_of(dataset[index])
        if stratum is None:
            raise DataError(
                "a sample has no label",
                where=f"sample {dataset[index].id} of the training split",
                fix="the supervised stage needs labelled training rows",
            )
        strata.setdefault(stratum, []).append(index)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for stratum in sorted(strata, key=repr):  # a fixed order: same seed, same subset
        members = strata[stratum]
        take = max(1, round(len(members) * fraction))
        keep.extend(int(i) for i in rng.choice(members, size=take, replace=False))
    return SubsetDataset(dataset, sorted(keep))
