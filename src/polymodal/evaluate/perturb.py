"""Perturbations of a collated :class:`~polymodal.data.schema.Batch`, for the robustness protocol.

Three kinds, registered by name in :data:`PERTURBATIONS`, work on every modality kind at an
integer severity in ``0..5`` (:data:`SEVERITIES`); severity 0 is the identity for all:

``drop``
    The modality is removed from ``k = round(B * severity / 5)`` of the ``B`` samples of the batch
    (severity 5: all): ``present`` False, values zero and, for sequences, the missing-sample
    convention of :mod:`polymodal.data.collate` (one zero position that is not padding, the rest
    padding). This is *the* mechanism that removes a modality; modality contribution uses it too.
    Samples already missing may be among the ``k``, so fewer than ``k`` may change.
``noise``
    Float inputs (image, audio log-mel, video, tabular): Gaussian noise of standard deviation
    ``NOISE_STD_LEVELS[severity] x sigma`` is added, where ``sigma`` is the (population) standard
    deviation of the present, non-padding values of the batch. Text token ids: each token is
    replaced, with probability ``FRACTION_LEVELS[severity]``, by an id drawn uniformly from the
    vocabulary without the pad id.
``mask``
    A fraction ``FRACTION_LEVELS[severity]`` of the positions is set to zero (text: to the
    ``<unk>`` id, ``spec.meta["unk_id"]`` if given, else :data:`UNK_ID` = 1, the id every
    polymodal tokenizer reserves): tokens (text), time steps (audio, all mel bins of a step),
    frames (video), pixels (image, all channels of a pixel) or features (tabular). Each position
    is masked independently with that probability, so the fraction holds in expectation.

Absent samples and padding positions are never perturbed (they stay what collate made them), and
the input batch is never modified: every perturbation returns new tensors.

Randomness and determinism: every sample draws from its own generator, seeded from a hash of
``(seed, modality, kind, sample id)`` (:func:`sample_seed`). So a perturbed batch is a function of
``(seed, modality, kind, severity, ids)``, and

- ``noise`` directions, ``mask`` and text-noise choices of a sample do not depend on the other
  samples of the batch, nor on its padded length; the one batch-level quantity is ``sigma`` of
  ``noise`` on float inputs (the same sample in a batch of other samples gets the same noise
  direction, scaled by that batch's ``sigma``);
- ``drop`` picks the ``k`` samples with the smallest per-sample key, so it is invariant to the
  order of the samples in a batch but depends on which samples share it;
- severity is not part of the seed (common random numbers): the same draws serve every severity,
  so dropped samples and masked positions are nested (severity 3 drops every sample severity 2
  drops) and a sample's noise grows along one direction, which makes curves monotone in the
  perturbation rather than noisy.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from polymodal.data.schema import Batch, ModalityBatch, ModalitySpec
from polymodal.errors import PolymodalError
from polymodal.registry import Registry

PerturbationFn = Callable[
    [ModalityBatch, ModalitySpec, int, Sequence[torch.Generator]], ModalityBatch
]
"""``(batch_modality, spec, severity, generators) -> ModalityBatch``; ``generators`` holds one
generator per sample of the batch, in batch order (see :func:`sample_generators`)."""

PERTURBATIONS: Registry[PerturbationFn] = Registry("perturbation")
"""Perturbation functions by name (``drop``, ``noise``, ``mask``)."""

SEVERITIES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
"""The severity levels; 0 is the identity, 5 the strongest."""

NOISE_STD_LEVELS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
"""Noise standard deviation per severity, in units of the batch's standard deviation."""

FRACTION_LEVELS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8)
"""Probability per severity that a position is masked (``mask``) or a token replaced (text
``noise``)."""

UNK_ID = 1
"""The ``<unk>`` id text positions are masked to, unless ``spec.meta["unk_id"]`` says otherwise."""


class PerturbationError(PolymodalError, ValueError):
    """A perturbation cannot be applied (bad severity, unknown modality, text lacking vocab)."""


def check_severity(severity: int) -> int:
    """``severity`` as an int of :data:`SEVERITIES`; :class:`PerturbationError` otherwise."""
    if isinstance(severity, bool) or int(severity) != severity or severity not in SEVERITIES:
        raise PerturbationError(
            f"severity must be an integer in 0..5, got {severity!r}",
            fix="use 0 (clean) to 5 (strongest)",
        )
    return int(severity)


def sample_seed(seed: int, modality: str, kind: str, sample_id: str) -> int:
    """A 63-bit seed from ``(seed, modality, kind, sample id)`` (BLAKE2b, stable across runs)."""
    key = "\x1f".join((str(int(seed)), modality, kind, str(sample_id))).encode("utf-8")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def sample_generators(
    ids: Sequence[str], seed: int, modality: str, kind: str
) -> list[torch.Generator]:
    """One CPU generator per sample id, seeded with :func:`sample_seed`."""
    return [torch.Generator().manual_seed(sample_seed(seed, modality, kind, i)) for i in ids]


# --------------------------------------------------------------------------------------------
# Helpers


def _copy(batch: ModalityBatch) -> ModalityBatch:
    return ModalityBatch(
        batch.values.clone(),
        batch.present.clone(),
        None if batch.padding_mask is None else batch.padding_mask.clone(),
    )


def _check_generators(batch: ModalityBatch, generators: Sequence[torch.Generator]) -> None:
    if len(generators) != len(batch):
        raise PerturbationError(
            f"got {len(generators)} generators for a batch of {len(batch)} samples",
            fix="pass one generator per sample (sample_generators(batch.ids, ...))",
        )


def _valid_positions(batch: ModalityBatch, b: int) -> tuple[slice | Tensor, int]:
    """The non-padding positions of sample ``b`` along dim 1, and how many there are: a slice
    under right padding (what collate makes), else an index tensor."""
    if batch.padding_mask is None:
        n = int(batch.values.shape[1])
        return slice(0, n), n
    valid = ~batch.padding_mask[b]  # [T]
    n = int(valid.sum())
    if bool(valid[:n].all()):
        return slice(0, n), n
    return valid.nonzero().reshape(-1), n


def _float_values(batch: ModalityBatch, spec: ModalitySpec, kind: str) -> Tensor:
    if not torch.is_floating_point(batch.values):
        raise PerturbationError(
            f"{kind} of modality {spec.name!r} ({spec.kind}) expects float values, "
            f"got {batch.values.dtype}",
            fix="give float inputs, or declare the modality's kind as 'text'",
        )
    return batch.values


def _data_std(batch: ModalityBatch) -> float | None:
    """Population standard deviation of the values that are data (present samples, non-padding
    positions), in float64; None when the batch has none. Weighted sums avoid gathering them."""
    values = batch.values
    keep = batch.present.reshape(-1, *([1] * (values.dim() - 1)))  # [B, 1, ...]
    if batch.padding_mask is not None:
        pad = batch.padding_mask.reshape(*batch.padding_mask.shape, *([1] * (values.dim() - 2)))
        keep = keep & ~pad  # [B, T, 1, ...]
    weight = keep.double()
    count = float(weight.sum()) * (values.numel() / weight.numel())  # data values
    if count == 0:
        return None
    x = values.double()
    mean = float((x * weight).sum()) / count
    return math.sqrt(float((((x - mean) * weight) ** 2).sum()) / count)


# --------------------------------------------------------------------------------------------
# drop


@PERTURBATIONS.register("drop")
def drop(
    batch: ModalityBatch,
    spec: ModalitySpec,
    severity: int,
    generators: Sequence[torch.Generator],
) -> ModalityBatch:
    """Remove the modality from ``round(B * severity / 5)`` samples (those with the smallest
    per-sample key): ``present`` False, values zero, and for sequences one zero position that is
    not padding with padding after it (the missing-sample convention of collate)."""
    severity = check_severity(severity)
    _check_generators(batch, generators)
    out = _copy(batch)
    b = len(batch)
    k = int(b * severity / 5 + 0.5)  # round half up
    if k == 0:
        return out
    keys = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in generators])
    chosen = torch.argsort(keys, stable=True)[:k]  # [k]
    out.present[chosen] = False
    if out.padding_mask is None:
        out.values[chosen] = 0
        return out
    fill = spec.pad_id if spec.kind == "text" else 0
    out.values[chosen] = fill
    out.values[chosen, :1] = 0  # the one non-padding position of a missing sample
    out.padding_mask[chosen] = True
    out.padding_mask[chosen, 0] = False
    return out


# --------------------------------------------------------------------------------------------
# noise


def _text_noise(
    batch: ModalityBatch, spec: ModalitySpec, p: float, generators: Sequence[torch.Generator]
) -> ModalityBatch:
    if spec.vocab_size is None or spec.vocab_size < 2:
        raise PerturbationError(
            f"noise on text modality {spec.name!r} needs a vocabulary of at least 2 ids, "
            f"got vocab_size={spec.vocab_size}",
            fix="set vocab_size in the modality's spec",
        )
    out = _copy(batch)
    for b, g in enumerate(generators):
        if not bool(batch.present[b]):
            continue
        pos, n = _valid_positions(batch, b)
        u = torch.rand(n, generator=g)  # [n]
        ids = torch.randint(0, spec.vocab_size - 1, (n,), generator=g)  # [n]
        ids = ids + (ids >= spec.pad_id).long()  # skip the pad id
        row = out.values[b, pos].clone()  # [n]
        out.values[b, pos] = torch.where(u < p, ids.to(row.dtype), row)
    return out


@PERTURBATIONS.register("noise")
def noise(
    batch: ModalityBatch,
    spec: ModalitySpec,
    severity: int,
    generators: Sequence[torch.Generator],
) -> ModalityBatch:
    """Gaussian noise of std ``NOISE_STD_LEVELS[severity]`` x the batch's std of the present
    values (float inputs); text: each token replaced by a uniformly random non-pad id with
    probability ``FRACTION_LEVELS[severity]``."""
    severity = check_severity(severity)
    _check_generators(batch, generators)
    if severity == 0:
        return _copy(batch)
    if spec.kind == "text":
        return _text_noise(batch, spec, FRACTION_LEVELS[severity], generators)
    values = _float_values(batch, spec, "noise")
    sigma = _data_std(batch)
    if sigma is None:
        return _copy(batch)
    eps = torch.zeros_like(values)
    for b, g in enumerate(generators):
        if not bool(batch.present[b]):
            continue
        if batch.padding_mask is None:
            eps[b] = torch.randn(values.shape[1:], generator=g, dtype=values.dtype)
        else:
            pos, n = _valid_positions(batch, b)
            eps[b, pos] = torch.randn((n, *values.shape[2:]), generator=g, dtype=values.dtype)
    scale = float(NOISE_STD_LEVELS[severity] * sigma)
    return ModalityBatch(
        values + scale * eps,
        batch.present.clone(),
        None if batch.padding_mask is None else batch.padding_mask.clone(),
    )


# --------------------------------------------------------------------------------------------
# mask


def _mask_unit_shape(values: Tensor, spec: ModalitySpec) -> tuple[int, ...]:
    """The shape, after B, of a mask broadcast over ``values``: one entry per masked position.

    text / audio / video: time ``[T, 1, ...]``; image: pixels ``[1, H, W]``; tabular: every
    value.
    """
    rest = tuple(values.shape[1:])
    if spec.kind in ("text", "audio", "video"):
        return (rest[0], *([1] * (len(rest) - 1)))
    if spec.kind == "image":
        return (*([1] * (len(rest) - 2)), *rest[-2:])
    return rest


@PERTURBATIONS.register("mask")
def mask(
    batch: ModalityBatch,
    spec: ModalitySpec,
    severity: int,
    generators: Sequence[torch.Generator],
) -> ModalityBatch:
    """Each position (token, time step, frame, pixel, feature) of a present sample is set to
    zero (text: ``<unk>``) with probability ``FRACTION_LEVELS[severity]``; padding is kept."""
    severity = check_severity(severity)
    _check_generators(batch, generators)
    if severity == 0:
        return _copy(batch)
    p = FRACTION_LEVELS[severity]
    values = batch.values
    unit = _mask_unit_shape(values, spec)
    hit = torch.zeros((len(batch), *unit), dtype=torch.bool)  # [B, *unit]
    for b, g in enumerate(generators):
        if not bool(batch.present[b]):
            continue
        if batch.padding_mask is None or spec.kind not in ("text", "audio", "video"):
            hit[b] = torch.rand(unit, generator=g) < p
        else:
            pos, n = _valid_positions(batch, b)
            hit[b, pos] = torch.rand((n, *unit[1:]), generator=g) < p  # [n, 1, ...]
    hit = hit.expand_as(values)
    if spec.kind == "text":
        unk = int(spec.meta.get("unk_id", UNK_ID))
        if spec.vocab_size is not None and not 0 <= unk < spec.vocab_size:
            raise PerturbationError(
                f"mask id {unk} of text modality {spec.name!r} is outside its vocabulary "
                f"[0, {spec.vocab_size})",
                fix="set spec.meta['unk_id'] to the tokenizer's <unk> id",
            )
        fill = torch.full_like(values, unk)
    else:
        fill = torch.zeros_like(values)
    return ModalityBatch(
        torch.where(hit, fill, values),
        batch.present.clone(),
        None if batch.padding_mask is None else batch.padding_mask.clone(),
    )


# --------------------------------------------------------------------------------------------
# Whole batches


def perturb_batch(
    batch: Batch,
    modality: str,
    kind: str,
    severity: int,
    specs: Mapping[str, ModalitySpec],
    seed: int = 0,
) -> Batch:
    """``batch`` with perturbation ``kind`` at ``severity`` applied to ``modality``.

    Other modalities and the target are shared with ``batch`` (not copied; nothing is modified).
    Deterministic given ``(seed, modality, kind, severity, batch.ids)`` (see the module's notes).

    Raises:
        UnknownComponentError: an unknown ``kind`` (the message lists the known ones).
        PerturbationError: a bad severity, or a modality missing from the batch or ``specs``.
    """
    function = PERTURBATIONS.get(kind)
    severity = check_severity(severity)
    if modality not in batch.inputs or modality not in specs:
        where = "batch" if modality not in batch.inputs else "specs"
        known = sorted(batch.inputs if where == "batch" else specs)
        raise PerturbationError(
            f"cannot perturb modality {modality!r}: it is not in the {where}",
            fix=f"use one of: {', '.join(known)}",
        )
    generators = sample_generators(batch.ids, seed, modality, kind)
    perturbed = function(batch.inputs[modality], specs[modality], severity, generators)
    inputs = dict(batch.inputs)
    inputs[modality] = perturbed
    return Batch(list(batch.ids), inputs, batch.target)
