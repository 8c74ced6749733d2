"""Class-stratified subsets for the few-label stage."""

from __future__ import annotations

import pytest
import torch

from polymodal.data.bundle import ListDataset
from polymodal.data.schema import Sample
from polymodal.data.subset import stratified_subset
from polymodal.errors import DataError


def _dataset(counts):
    samples = []
    for label, count in enumerate(counts):
        for i in range(count):
            samples.append(Sample(f"s{label}-{i}", {}, torch.tensor(label)))
    return ListDataset(samples)


def test_each_class_keeps_its_share():
    data = _dataset([40, 20, 3])
    subset = stratified_subset(data, 0.25, seed=0)
    labels = [int(subset[i].target) for i in range(len(subset))]
    assert [labels.count(c) for c in range(3)] == [10, 5, 1]  # round(0.75) = 1, at least one
    assert len({subset[i].id for i in range(len(subset))}) == len(subset)


def test_same_seed_same_subset_and_other_seed_differs():
    data = _dataset([50, 50])
    ids = lambda s: [s[i].id for i in range(len(s))]  # noqa: E731
    assert ids(stratified_subset(data, 0.2, 3)) == ids(stratified_subset(data, 0.2, 3))
    assert ids(stratified_subset(data, 0.2, 3)) != ids(stratified_subset(data, 0.2, 4))


def test_full_fraction_is_the_dataset_and_bad_fractions_fail():
    data = _dataset([5, 5])
    assert len(stratified_subset(data, 1.0, 0)) == 10
    with pytest.raises(DataError, match="label fraction"):
        stratified_subset(data, 0.0, 0)
