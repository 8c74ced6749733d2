"""The photo of each sample of a generation predictions table, for reports that show examples.

A generation predictions table may carry an ``image`` column: the absolute path of the sample's
photo (the file of its first image modality), so that a report made later (a benchmark report,
:func:`polymodal.evaluate.generation.examples.examples_from_files`) can show it as a thumbnail
without building the dataset again. Only datasets that know their items' files (a manifest's
:meth:`~polymodal.data.manifest.dataset.ManifestDataset.item_paths`) give one; others (built-in
datasets, text-only inputs) give none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polymodal.data.schema import ModalitySpec

PHOTO_COLUMN = "image"
"""Column of the predictions table holding each sample's photo path (None where it has none)."""


def photo_paths(dataset: Any, used: Mapping[str, ModalitySpec]) -> list[str | None] | None:
    """One photo path (absolute, as text) per sample of ``dataset``, in dataset order: the file
    of the first used modality of kind ``image``; None when no used modality is an image or the
    dataset does not know its files."""
    item_paths = getattr(dataset, "item_paths", None)
    image = next((name for name, spec in used.items() if spec.kind == "image"), None)
    if image is None or item_paths is None:
        return None
    paths = item_paths(image)
    if all(p is None for p in paths):
        return None
    return [None if p is None else str(p) for p in paths]
