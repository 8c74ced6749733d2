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
        if not isinstance(v, Tensor) or (spec.is_sequence and v.ndim == 0):
            kind = f"a {type(v).__name__}" if not isinstance(v, Tensor) else "a 0-d tensor"
            raise DataError(
                f"modality {spec.name!r} has {kind} where a tensor of shape "
                f"{list(spec.shape)} was expected (-1: any length)",
                where=f"sample {ids[i] if ids else i}",
                fix="give each present modality as a torch.Tensor, or None when it is missing",
            )
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
        DataError: an empty batch, a value that is not a tensor or has the wrong shape, targets
            of different shapes, or a batch where some samples have a target and others do not
            (labels are never dropped silently).
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
    if all(labelled):
        _check_targets(targets, ids)  # type: ignore[arg-type]
    target = torch.stack(targets) if all(labelled) else None  # type: ignore[arg-type]
    return Batch(ids, inputs, target, _references(samples))


def _references(samples: Sequence[Sample]) -> list[tuple[str, ...]] | None:
    """Every sample's reference texts (generation), None when no sample has any; a batch where
    some samples have references and others do not is an error."""
    refs = [getattr(s, "references", None) for s in samples]
    if all(r is None for r in refs):
        return None
    missing = [s.id for s, r in zip(samples, refs, strict=True) if not r]
    if missing:
        raise DataError(
            f"{len(missing)} samples of a generation batch have no reference text: {missing[:5]}",
            fix="give every sample at least one reference",
        )
    return [tuple(r) for r in refs]  # type: ignore[arg-type]


def _check_targets(targets: Sequence[Tensor], ids: Sequence[str]) -> None:
    """Every target a tensor of the first one's shape, so that they stack."""
    fix = "give every sample a target tensor of the same shape"
    for i, t in enumerate(targets):
        if not isinstance(t, Tensor):
            raise DataError(
                f"the target is a {type(t).__name__}, not a tensor",
                where=f"sample {ids[i]}",
                fix=fix,
            )
        if t.shape != targets[0].shape:
            raise DataError(
                f"target of shape {list(t.shape)}, expected {list(targets[0].shape)} "
                f"(the shape of sample {ids[0]}'s target)",
                where=f"sample {ids[i]}",
                fix=fix,
            )


class Collator:
    """Picklable collate function bound to a dataset's modality specs (for DataLoader workers)."""

    def __init__(self, specs: dict[str, ModalitySpec]) -> None:
        self.specs = specs

    def __call__(self, samples: Sequence[Sample]) -> Batch:
        return collate_samples(samples, self.specs)
