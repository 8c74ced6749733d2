"""Tests of the perturbations of a batch (polymodal.evaluate.perturb)."""

from __future__ import annotations

import itertools

import pytest
import torch

from polymodal.data.collate import collate_samples
from polymodal.data.schema import Batch, ModalityBatch, ModalitySpec, Sample
from polymodal.errors import UnknownComponentError
from polymodal.evaluate.perturb import (
    FRACTION_LEVELS,
    NOISE_STD_LEVELS,
    PERTURBATIONS,
    UNK_ID,
    PerturbationError,
    perturb_batch,
    sample_generators,
)

SPECS = {
    "text": ModalitySpec("text", "text", (-1,), vocab_size=50, pad_id=3),
    "image": ModalitySpec("image", "image", (2, 6, 6)),
    "audio": ModalitySpec("audio", "audio", (-1, 4)),
    "video": ModalitySpec("video", "video", (-1, 2, 3, 3)),
    "tab": ModalitySpec("tab", "tabular", (5,)),
}
MODALITIES = list(SPECS)
FLOAT_MODALITIES = ["image", "audio", "video", "tab"]


def _samples(n: int, seed: int = 0, missing_every: int = 0) -> list[Sample]:
    """Random samples of every modality; sample i misses them all when i % missing_every == 1."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        inputs: dict[str, torch.Tensor | None] = {
            "text": torch.randint(4, 50, (2 + i % 5,), generator=gen),
            "image": torch.randn(2, 6, 6, generator=gen) * 3 + 1,
            "audio": torch.randn(3 + i % 4, 4, generator=gen) * 2,
            "video": torch.randn(1 + i % 3, 2, 3, 3, generator=gen),
            "tab": torch.randn(5, generator=gen) * 0.5,
        }
        if missing_every and i % missing_every == 1:
            inputs = {k: None for k in inputs}
        out.append(Sample(f"id{i}", inputs, torch.tensor(i % 2)))
    return out


def _batch(n: int = 12, seed: int = 0, missing_every: int = 4) -> Batch:
    return collate_samples(_samples(n, seed, missing_every), SPECS)


def _equal(a, b) -> bool:
    same_mask = (a.padding_mask is None and b.padding_mask is None) or (
        a.padding_mask is not None
        and b.padding_mask is not None
        and torch.equal(a.padding_mask, b.padding_mask)
    )
    return torch.equal(a.values, b.values) and torch.equal(a.present, b.present) and same_mask


def _copy(mb: ModalityBatch) -> ModalityBatch:
    mask = None if mb.padding_mask is None else mb.padding_mask.clone()
    return ModalityBatch(mb.values.clone(), mb.present.clone(), mask)


def _data(mb) -> torch.Tensor:
    """bool like values: present and not padding."""
    keep = mb.present.reshape(-1, *([1] * (mb.values.dim() - 1)))
    if mb.padding_mask is not None:
        pad = mb.padding_mask.reshape(*mb.padding_mask.shape, *([1] * (mb.values.dim() - 2)))
        keep = keep & ~pad
    return keep.expand_as(mb.values)


@pytest.mark.parametrize("kind", ["drop", "noise", "mask"])
@pytest.mark.parametrize("modality", MODALITIES)
def test_severity_zero_is_identity_and_input_untouched(kind: str, modality: str) -> None:
    batch = _batch()
    before = {m: _copy(mb) for m, mb in batch.inputs.items()}
    out = perturb_batch(batch, modality, kind, 0, SPECS, seed=1)
    assert _equal(out.inputs[modality], batch.inputs[modality])
    assert out.inputs[modality].values is not batch.inputs[modality].values  # new tensors
    for severity in (2, 5):
        perturb_batch(batch, modality, kind, severity, SPECS, seed=1)
    for m, copy in before.items():  # nothing was modified in place
        assert _equal(batch.inputs[m], copy)
    assert out.ids == batch.ids


@pytest.mark.parametrize("modality", MODALITIES)
def test_drop_at_five_removes_every_sample_with_the_collate_convention(modality: str) -> None:
    batch = _batch()
    out = perturb_batch(batch, modality, "drop", 5, SPECS).inputs[modality]
    spec = SPECS[modality]
    assert not bool(out.present.any())
    if out.padding_mask is None:
        assert bool((out.values == 0).all())
        return
    # the same as collate gives for missing samples: one zero position, then padding
    assert not bool(out.padding_mask[:, 0].any())
    assert bool(out.padding_mask[:, 1:].all())
    assert bool((out.values[:, 0] == 0).all())
    fill = spec.pad_id if spec.kind == "text" else 0
    assert bool((out.values[:, 1:] == fill).all())
    missing = collate_samples([Sample("x", {m: None for m in SPECS})], SPECS).inputs[modality]
    assert torch.equal(out.values[:1, :1], missing.values)
    assert torch.equal(out.padding_mask[:1, :1], missing.padding_mask)


@pytest.mark.parametrize(("n", "expected"), [(10, 4), (7, 3), (5, 2), (1, 0)])
def test_drop_at_two_removes_forty_percent(n: int, expected: int) -> None:
    batch = collate_samples(_samples(n), SPECS)  # all present
    out = perturb_batch(batch, "audio", "drop", 2, SPECS, seed=3).inputs["audio"]
    removed = ~out.present
    assert int(removed.sum()) == expected  # round(0.4 n), half up
    kept = out.present
    assert torch.equal(out.values[kept], batch.inputs["audio"].values[kept])
    assert bool((out.values[removed] == 0).all())


def test_drop_is_nested_across_severities() -> None:
    batch = collate_samples(_samples(20), SPECS)
    dropped = [
        ~perturb_batch(batch, "tab", "drop", s, SPECS, seed=5).inputs["tab"].present
        for s in range(6)
    ]
    counts = [int(d.sum()) for d in dropped]
    assert counts == [0, 4, 8, 12, 16, 20]
    for low, high in itertools.pairwise(dropped):
        assert bool((high | ~low).all())  # every sample dropped at s is dropped at s + 1


@pytest.mark.parametrize("modality", FLOAT_MODALITIES)
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_noise_std_matches_level_times_batch_std(modality: str, severity: int) -> None:
    batch = _batch(n=64, missing_every=5)
    mb = batch.inputs[modality]
    out = perturb_batch(batch, modality, "noise", severity, SPECS, seed=2).inputs[modality]
    data = _data(mb)
    sigma = mb.values[data].double().std(correction=0)
    measured = (out.values - mb.values)[data].double().std(correction=0)
    assert float(measured / sigma) == pytest.approx(NOISE_STD_LEVELS[severity], rel=0.06)
    # absent samples and padding are untouched
    assert torch.equal(out.values[~data], mb.values[~data])
    assert torch.equal(out.present, mb.present)


@pytest.mark.parametrize("severity", [2, 4])
def test_text_noise_replaces_tokens_with_non_pad_ids(severity: int) -> None:
    batch = _batch(n=500, missing_every=5)
    mb = batch.inputs["text"]
    out = perturb_batch(batch, "text", "noise", severity, SPECS, seed=4).inputs["text"]
    data = _data(mb)
    changed = (out.values != mb.values) & data
    # a replacement equal to the original id (1 in vocab_size - 1) is invisible
    expected = FRACTION_LEVELS[severity] * (1 - 1 / (SPECS["text"].vocab_size - 1))
    assert float(changed.sum() / data.sum()) == pytest.approx(expected, abs=0.04)
    assert not bool((out.values[data] == SPECS["text"].pad_id).any())
    assert bool((out.values[data] >= 0).all())
    assert bool((out.values[data] < SPECS["text"].vocab_size).all())
    assert torch.equal(out.values[~data], mb.values[~data])
    assert torch.equal(out.padding_mask, mb.padding_mask)


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_mask_fraction_and_unit(modality: str, severity: int) -> None:
    batch = _batch(n=200, missing_every=5)
    mb = batch.inputs[modality]
    out = perturb_batch(batch, modality, "mask", severity, SPECS, seed=6).inputs[modality]
    data = _data(mb)
    fill = UNK_ID if modality == "text" else 0
    hit = (out.values != mb.values) & data
    assert bool((out.values[hit] == fill).all())
    assert torch.equal(out.values[~data], mb.values[~data])  # padding and absent kept
    # one masking decision per unit: token / time step / frame / pixel / feature
    masked = (out.values == fill) & data
    if modality in ("audio", "video"):
        units = masked.flatten(2)  # [B, T, rest]
        assert bool((units.all(-1) == units.any(-1)).all())
        unit_hit, unit_data = units.any(-1), data.flatten(2).any(-1)
    elif modality == "image":
        assert bool((masked.all(1) == masked.any(1)).all())  # all channels of a pixel
        unit_hit, unit_data = masked.any(1), data.any(1)
    else:
        unit_hit, unit_data = masked, data
    fraction = float(unit_hit.sum() / unit_data.sum())
    assert fraction == pytest.approx(FRACTION_LEVELS[severity], abs=0.04)


@pytest.mark.parametrize("kind", ["drop", "noise", "mask"])
@pytest.mark.parametrize("modality", MODALITIES)
def test_deterministic_and_invariant_to_sample_order(kind: str, modality: str) -> None:
    samples = _samples(10, missing_every=4)
    batch = collate_samples(samples, SPECS)
    first = perturb_batch(batch, modality, kind, 3, SPECS, seed=7).inputs[modality]
    again = perturb_batch(batch, modality, kind, 3, SPECS, seed=7).inputs[modality]
    other = perturb_batch(batch, modality, kind, 3, SPECS, seed=8).inputs[modality]
    assert _equal(first, again)
    assert not _equal(first, other)
    order = [3, 9, 0, 7, 1, 5, 2, 8, 6, 4]
    shuffled = collate_samples([samples[i] for i in order], SPECS)
    moved = perturb_batch(shuffled, modality, kind, 3, SPECS, seed=7).inputs[modality]
    for j, i in enumerate(order):
        assert bool(moved.present[j] == first.present[i])
        if first.padding_mask is None:
            assert torch.equal(moved.values[j], first.values[i])
        else:
            n = int((~first.padding_mask[i]).sum())
            assert torch.equal(moved.values[j, :n], first.values[i, :n])


@pytest.mark.parametrize("kind", ["noise", "mask"])
@pytest.mark.parametrize("modality", ["text", "audio", "video"])
def test_per_sample_draws_do_not_depend_on_the_other_samples(kind: str, modality: str) -> None:
    samples = _samples(8)
    big = collate_samples(samples, SPECS)
    small = collate_samples(samples[2:3], SPECS)  # a shorter padded length, one sample
    a = perturb_batch(big, modality, kind, 4, SPECS, seed=9).inputs[modality]
    b = perturb_batch(small, modality, kind, 4, SPECS, seed=9).inputs[modality]
    n = int((~small.inputs[modality].padding_mask[0]).sum())
    changed_a = a.values[2, :n] != big.inputs[modality].values[2, :n]
    changed_b = b.values[0, :n] != small.inputs[modality].values[0, :n]
    assert torch.equal(changed_a, changed_b)  # same positions touched
    if kind == "mask" or modality == "text":
        assert torch.equal(a.values[2, :n], b.values[0, :n])


def test_registry_and_errors() -> None:
    assert PERTURBATIONS.names() == ["drop", "mask", "noise"]
    batch = _batch()
    with pytest.raises(UnknownComponentError, match="blur"):
        perturb_batch(batch, "image", "blur", 1, SPECS)
    with pytest.raises(PerturbationError, match="severity"):
        perturb_batch(batch, "image", "noise", 6, SPECS)
    with pytest.raises(PerturbationError, match="lidar"):
        perturb_batch(batch, "lidar", "noise", 1, SPECS)
    generators = sample_generators(batch.ids[:2], 0, "image", "drop")
    with pytest.raises(PerturbationError, match="generators"):
        PERTURBATIONS.get("drop")(batch.inputs["image"], SPECS["image"], 2, generators)
    no_vocab = {**SPECS, "text": ModalitySpec("text", "text", (-1,), pad_id=3)}
    with pytest.raises(PerturbationError, match="vocab"):
        perturb_batch(batch, "text", "noise", 1, no_vocab)
