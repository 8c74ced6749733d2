"""Collate samples into a :class:`~polymodal.data.schema.Batch` with presence and padding masks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from polymodal.data.schema import Batch, ModalityBatch, ModalitySpec, Sample


def _fixed_shape(spec: ModalitySpec, values: list[Tensor | None]) -> tuple[int, ...]:
    for v in values:
        if v is not None:
            return tuple(v.shape)
    return tuple(abs(d) if d != -1 else 1 for d in spec.shape)


def collate_modality(values: Sequence[Tensor | None], spec: ModalitySpec) -> ModalityBatch:
    """Stack one modality's per-sample values.

    Sequences (``spec.shape[0] == -1``) are right-padded to the longest present sample; a missing
    sample gets one zero position that is *not* marked as padding, so attention never sees an
    empty row (its ``present`` flag is what says it is not data).
    """
    present = torch.tensor([v is not None for v in values], dtype=torch.bool)
    dtype = torch.long if spec.kind == "text" else torch.float32
    if not spec.is_sequence:
        shape = _fixed_shape(spec, list(values))
        out = torch.zeros((len(values), *shape), dtype=dtype)
        for i, v in enumerate(values):
            if v is not None:
                out[i] = v
        return ModalityBatch(out, present)
    lengths = [int(v.shape[0]) if v is not None else 1 for v in values]
    longest = max(lengths) if lengths else 1
    tail = _fixed_shape(spec, list(values))[1:]
    fill = spec.pad_id if spec.kind == "text" else 0
    out = torch.full((len(values), longest, *tail), fill, dtype=dtype)  # [B, T, ...]
    padding = torch.ones((len(values), longest), dtype=torch.bool)  # True = padding
    for i, (v, n) in enumerate(zip(values, lengths, strict=True)):
        if v is not None:
            out[i, :n] = v
        else:
            out[i, :1] = 0
        padding[i, :n] = False
    return ModalityBatch(out, present, padding)


def collate_samples(samples: Sequence[Sample], specs: dict[str, ModalitySpec]) -> Batch:
    """Collate samples; every modality in ``specs`` gets a batch, present or not."""
    inputs = {
        name: collate_modality([s.inputs.get(name) for s in samples], spec)
        for name, spec in specs.items()
    }
    targets = [s.target for s in samples]
    target = None if any(t is None for t in targets) else torch.stack(targets)  # type: ignore[arg-type]
    return Batch([s.id for s in samples], inputs, target)


class Collator:
    """Picklable collate function bound to a dataset's modality specs (for DataLoader workers)."""

    def __init__(self, specs: dict[str, ModalitySpec]) -> None:
        self.specs = specs

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        return collate_samples(samples, self.specs)
