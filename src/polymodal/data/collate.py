"""Collate samples into a :class:`~polymodal.data.schema.Batch` with presence and padding masks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from polymodal.data.schema import Batch, ModalityBatch, ModalitySpec, Sample
from polymodal.errors import DataError


def _fixed_shape(
    spec: ModalitySpec, values: Sequence[Tensor | None], ids: Sequence[str] | None
) -> tuple[int, ...]:
    """The common per-sample shape (without the sequence dimension for sequences).

    Every present value must agree with it and with the fixed sizes of ``spec.shape``: a value of
    the wrong shape is an error, never broadcast.
    """
    declared = spec.shape[1:] if spec.is_sequence else spec.shape
    shape: tuple[int, ...] | None = None
    for i, v in enumerate(values):
        if v is None:
            continue
        got = tuple(v.shape[1:]) if spec.is_sequence else tuple(v.shape)
        if spec.is_sequence and v.shape[0] == 0:
            raise DataError(
                f"modality {spec.name!r} has a present sequence of length 0",
                where=f"sample {ids[i] if ids else i}",
                fix="give at least one step/token, or mark the modality missing (None)",
            )
        fits_spec = len(got) == len(declared) and all(
            d in (-1, g) for d, g in zip(declared, got, strict=True)
        )
        if (shape is not None and got != shape) or not fits_spec:
            expected = list(shape if shape is not None else declared)
            part = "after the sequence dimension" if spec.is_sequence else "per sample"
            raise DataError(
                f"modality {spec.name!r} has shape {list(v.shape)}, expected {expected} ({part})",
                where=f"sample {ids[i] if ids else i}",
                fix="preprocess every sample of a modality to the same shape",
            )
        shape = got
    if shape is not None:
        return shape
    return tuple(1 if d == -1 else d for d in declared)


def collate_modality(
    values: Sequence[Tensor | None], spec: ModalitySpec, ids: Sequence[str] | None = None
) -> ModalityBatch:
    """Stack one modality's per-sample values.

    Sequences (``spec.shape[0] == -1``) are right-padded to the longest present sample; a missing
    sample gets one zero position that is *not* marked as padding, so attention never sees an
    empty row (its ``present`` flag is what says it is not data).
    """
    present = torch.tensor([v is not None for v in values], dtype=torch.bool)
    dtype = torch.long if spec.kind == "text" else torch.float32
    shape = _fixed_shape(spec, values, ids)
    if not spec.is_sequence:
        out = torch.zeros((len(values), *shape), dtype=dtype)
        for i, v in enumerate(values):
            if v is not None:
                out[i] = v
        return ModalityBatch(out, present)
    lengths = [int(v.shape[0]) if v is not None else 1 for v in values]
    longest = max(lengths) if lengths else 1
    tail = shape
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
    """Collate samples; every modality in ``specs`` gets a batch, present or not.

    Raises:
        DataError: an empty batch, a value of the wrong shape, or a batch where some samples have
            a target and others do not (labels are never dropped silently).
    """
    if not samples:
        raise DataError("cannot collate an empty batch", fix="give at least one sample")
    ids = [s.id for s in samples]
    inputs = {
        name: collate_modality([s.inputs.get(name) for s in samples], spec, ids)
        for name, spec in specs.items()
    }
    targets = [s.target for s in samples]
    labelled = [t is not None for t in targets]
    if any(labelled) and not all(labelled):
        missing = [i for i, has in zip(ids, labelled, strict=True) if not has]
        raise DataError(
            f"{len(missing)} samples of a labelled batch have no target: {missing[:5]}",
            fix="label every sample, or none (for prediction only)",
        )
    target = torch.stack(targets) if all(labelled) else None  # type: ignore[arg-type]
    return Batch(ids, inputs, target)


class Collator:
    """Picklable collate function bound to a dataset's modality specs (for DataLoader workers)."""

    def __init__(self, specs: dict[str, ModalitySpec]) -> None:
        self.specs = specs

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        return collate_samples(samples, self.specs)
