r'''Data layer: samples, bundles, manifests, loaders, transforms, splits and built-in datasets.

The dataset contract, in one place
==================================

A dataset is a *factory* function registered by name in :data:`DATASETS`; the ``data:`` section
of a config names it (``name: toy``) and gives its parameters. Example::

    import torch
    from polymodal.data import (
        DATASETS, DataBundle, DatasetInfo, ListDataset, ModalitySpec, Sample, TaskSpec,
    )

    @DATASETS.register("toy")
    def toy(*, seed: int, state: dict | None = None, n: int = 64) -> DataBundle:
        """Random images and tabular rows, label = sign of the first feature."""
        g = torch.Generator().manual_seed(seed)
        rows = torch.randn(n, 3, generator=g)  # [N, F]
        samples = [
            Sample(f"toy-{i}", {"photo": torch.rand(1, 8, 8, generator=g), "row": rows[i]},
                   torch.tensor(int(rows[i, 0] > 0)))
            for i in range(n)
        ]
        info = DatasetInfo(
            name="toy",
            modalities={"photo": ModalitySpec("photo", "image", (1, 8, 8)),
                        "row": ModalitySpec("row", "tabular", (3,))},
            task=TaskSpec("multiclass", 2, class_names=("neg", "pos")),
        )
        half = n // 2
        splits = {"train": ListDataset(samples[:half]), "test": ListDataset(samples[half:])}
        return DataBundle(info=info, splits=splits, state={})

The module defining the factory must be imported before the config is built (e.g. a plugin).
``polymodal datasets list`` shows the docstring's first line, ``datasets show NAME`` all of it
and the parameters.

**What a factory receives** (keyword arguments):

- ``seed`` (injected by polymodal): the run's seed; every random choice (splits, generation,
  augmentation drawn at build time) must follow from it, so the same seed gives the same data.
- ``state`` (injected): None on a first build; at evaluation, resume or a second build, the
  :attr:`DataBundle.state` an earlier build returned (saved in the run as
  ``checkpoint/data_state.json``). Reuse it instead of learning again: vocabularies, class
  names, normalisation statistics.
- every other key of the ``data:`` section (``name`` aside), validated against the factory's
  signature and annotations (an unknown or mistyped key is a config error).

**What it returns**: a :class:`DataBundle`:

- ``info``: a :class:`DatasetInfo`: one :class:`ModalitySpec` per modality name (its kind, the
  per-sample shape with ``-1`` for the variable-length dimension, ``vocab_size`` / ``pad_id``
  for text) and a :class:`TaskSpec` (``multiclass``, ``multilabel``, ``regression`` or ``none``).
- ``splits``: ``train`` (required), ``val`` and ``test`` (either may be absent or empty), each a
  map-style ``torch.utils.data.Dataset`` of :class:`Sample` (:class:`ListDataset` wraps a list).
- ``skipped``: :class:`SkippedRow` records of rows left out, with their reasons.
- ``state``: JSON-serialisable preprocessing state learnt from the *training* split only.

**A sample**: ``Sample(id, inputs, target)``: ``id`` unique in the dataset; ``inputs`` maps each
modality name to its tensor, or None when the sample lacks the modality (a first-class state,
never a zero tensor); ``target`` int64 ``[]`` (multiclass), float32 ``[L]`` of 0/1 (multilabel),
float32 ``[K]`` (regression) or None (task ``none``).

**Values per modality kind** (one sample; :class:`Collator` pads and stacks them into
:class:`ModalityBatch` values with a ``[B]`` presence mask and, for ``-1`` dimensions, a ``[B, T]``
padding mask):

========  ========================================================  ==================
kind      one sample                                                spec shape
========  ========================================================  ==================
text      int64 token ids ``[T]``                                   ``(-1,)``
image     float32 ``[C, H, W]``                                     ``(C, H, W)``
audio     float32 log-mel ``[T, M]``: time first, then mel bins M   ``(-1, M)``
\         (a checkpoint's input: waveform ``[L]``, or ``[T, M]``)    (``(-1,)``)
video     float32 frames ``[T, C, H, W]``                           ``(-1, C, H, W)``
tabular   float32 features ``[F]``                                  ``(F,)``
========  ========================================================  ==================

Details: :mod:`polymodal.data.schema` (the types), :mod:`polymodal.data.bundle` (the bundle and
:class:`DatasetFactory`), :mod:`polymodal.data.manifest` (datasets from a JSONL / CSV / Parquet
manifest, no code), :mod:`polymodal.data.splits` (seeded splits by group),
:mod:`polymodal.data.builtin` (built-in datasets to read as examples).

The names above are imported lazily: ``import polymodal.data`` loads nothing heavy.
'''

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "DATASETS": "polymodal.registry",
    "Batch": "polymodal.data.schema",
    "DatasetInfo": "polymodal.data.schema",
    "MODALITY_KINDS": "polymodal.data.schema",
    "ModalityBatch": "polymodal.data.schema",
    "ModalityKind": "polymodal.data.schema",
    "ModalitySpec": "polymodal.data.schema",
    "Sample": "polymodal.data.schema",
    "TaskSpec": "polymodal.data.schema",
    "TaskType": "polymodal.data.schema",
    "DataBundle": "polymodal.data.bundle",
    "DatasetFactory": "polymodal.data.bundle",
    "ListDataset": "polymodal.data.bundle",
    "SkippedRow": "polymodal.data.bundle",
    "Collator": "polymodal.data.collate",
    "collate_samples": "polymodal.data.collate",
    "random_group_split": "polymodal.data.splits",
}

__all__ = [
    "DATASETS",
    "MODALITY_KINDS",
    "Batch",
    "Collator",
    "DataBundle",
    "DatasetFactory",
    "DatasetInfo",
    "ListDataset",
    "ModalityBatch",
    "ModalityKind",
    "ModalitySpec",
    "Sample",
    "SkippedRow",
    "TaskSpec",
    "TaskType",
    "collate_samples",
    "random_group_split",
]

if TYPE_CHECKING:
    from polymodal.data.bundle import DataBundle, DatasetFactory, ListDataset, SkippedRow
    from polymodal.data.collate import Collator, collate_samples
    from polymodal.data.schema import (
        MODALITY_KINDS,
        Batch,
        DatasetInfo,
        ModalityBatch,
        ModalityKind,
        ModalitySpec,
        Sample,
        TaskSpec,
        TaskType,
    )
    from polymodal.data.splits import random_group_split
    from polymodal.registry import DATASETS


def __getattr__(name: str) -> Any:
    """Import an exported name on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'polymodal.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
