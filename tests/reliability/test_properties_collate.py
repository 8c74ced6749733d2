"""Property-based tests of :func:`polymodal.data.collate.collate_samples`.

On any batch with random presence and lengths the masks are consistent: ``present`` says which
samples have the modality; ``padding_mask`` is True exactly beyond each present sample's length;
an absent sample has zero values and exactly one non-padding position. A batch that breaks the
contract (wrong shapes, empty sequences, values that are not tensors, targets that do not match)
gives a :class:`~polymodal.errors.DataError` naming the sample, and only such a batch does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from polymodal.data.collate import collate_samples
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.errors import DataError, PolymodalError

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)

SPECS = {
    "text": ModalitySpec("text", "text", (-1,), vocab_size=50, pad_id=0),
    "words": ModalitySpec("words", "text", (-1,), vocab_size=50, pad_id=3),
    "audio": ModalitySpec("audio", "audio", (-1, 2)),
    "video": ModalitySpec("video", "video", (-1, 1, 2, 2)),
    "image": ModalitySpec("image", "image", (1, 2, 3)),
    "tabular": ModalitySpec("tabular", "tabular", (4,)),
}


@dataclass
class Drawn:
    """A generated batch and whether it keeps the collate contract (the test's oracle)."""

    samples: list[Sample]
    specs: dict[str, ModalitySpec]
    valid: bool
    broken: str  # how it breaks the contract, for the statistics


def _value(spec: ModalitySpec, length: int, rng: np.random.Generator) -> torch.Tensor:
    shape = (length, *spec.shape[1:]) if spec.is_sequence else spec.shape
    if spec.kind == "text":
        return torch.from_numpy(rng.integers(4, 50, size=shape))  # never the pad id
    return torch.from_numpy(rng.normal(size=shape).astype(np.float32))


BREAKS = ["none", "empty_sequence", "wrong_tail", "wrong_rank", "not_a_tensor", "scalar"]
TARGET_BREAKS = ["none", "some_unlabelled", "other_shape", "not_a_tensor"]


@st.composite
def batches(draw: st.DrawFn) -> Drawn:
    names = draw(st.lists(st.sampled_from(sorted(SPECS)), min_size=1, max_size=4, unique=True))
    specs = {n: SPECS[n] for n in names}
    size = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labelled = draw(st.booleans())
    samples = []
    for b in range(size):
        inputs: dict[str, Any] = {}
        for name, spec in specs.items():
            present = draw(st.booleans())
            inputs[name] = _value(spec, draw(st.integers(1, 6)), rng) if present else None
        target = torch.tensor(b % 3) if labelled else None
        samples.append(Sample(f"s{b}", inputs, target))
    broken = draw(st.sampled_from(BREAKS)) if draw(st.booleans()) else "none"
    valid = True
    if broken != "none":
        b, name = draw(st.integers(0, size - 1)), draw(st.sampled_from(names))
        spec, value = specs[name], samples[b].inputs[name]
        valid = False
        if broken == "empty_sequence" and spec.is_sequence:
            samples[b].inputs[name] = _value(spec, 0, rng)
        elif broken == "wrong_tail":
            shape = list(spec.shape[1:] if spec.is_sequence else spec.shape) or [1]
            shape[-1] += 1
            samples[b].inputs[name] = torch.zeros([2, *shape] if spec.is_sequence else shape)
        elif broken == "wrong_rank":
            samples[b].inputs[name] = torch.zeros([2] * (len(spec.shape) + 1))
        elif broken == "not_a_tensor":
            samples[b].inputs[name] = [1, 2] if value is None else value.tolist()
        elif broken == "scalar":
            samples[b].inputs[name] = torch.tensor(1.0)
        else:
            valid, broken = True, "none"
    target_break = draw(st.sampled_from(TARGET_BREAKS)) if labelled else "none"
    if target_break != "none" and valid:
        b = draw(st.integers(0, size - 1))
        if target_break == "some_unlabelled" and size > 1:
            samples[b].target = None
            valid, broken = False, target_break
        elif target_break == "other_shape" and size > 1:
            samples[b].target = torch.tensor([1, 2])
            valid, broken = False, target_break
        elif target_break == "not_a_tensor":
            samples[b].target = 1
            valid, broken = False, target_break
    return Drawn(samples, specs, valid, broken)


def _check_modality(batch: Any, drawn: Drawn, name: str) -> None:
    spec = drawn.specs[name]
    values = [s.inputs[name] for s in drawn.samples]
    mb = batch.inputs[name]
    assert mb.present.tolist() == [v is not None for v in values]
    fill = spec.pad_id if spec.kind == "text" else 0
    if not spec.is_sequence:
        assert mb.padding_mask is None
        assert tuple(mb.values.shape) == (len(values), *spec.shape)
        for b, v in enumerate(values):
            expected = v if v is not None else torch.zeros(spec.shape)
            assert torch.equal(mb.values[b], expected.to(mb.values.dtype))
        return
    lengths = [int(v.shape[0]) for v in values if v is not None]
    longest = max(lengths, default=1)
    assert tuple(mb.values.shape) == (len(values), longest, *spec.shape[1:])
    assert tuple(mb.padding_mask.shape) == (len(values), longest)
    for b, v in enumerate(values):
        n = 1 if v is None else int(v.shape[0])  # an absent sample keeps one position
        assert mb.padding_mask[b].tolist() == [t >= n for t in range(longest)]
        head = torch.zeros((1, *spec.shape[1:])) if v is None else v
        assert torch.equal(mb.values[b, :n], head.to(mb.values.dtype))  # absent: zeros
        assert (mb.values[b, n:] == fill).all()  # padding holds the pad value


@SETTINGS
@given(drawn=batches())
def test_collate_masks_are_consistent_or_the_batch_is_refused(drawn: Drawn) -> None:
    event(f"broken: {drawn.broken}")
    batch, error = None, None
    try:
        batch = collate_samples(drawn.samples, drawn.specs)
    except PolymodalError as caught:
        error = caught
    if error is not None:
        assert isinstance(error, DataError)
        assert not drawn.valid, error  # a valid batch is never refused
        assert error.where is None or error.where.startswith("sample ")
        return
    assert drawn.valid, f"an invalid batch ({drawn.broken}) was collated"
    assert batch is not None
    assert batch.ids == [s.id for s in drawn.samples]
    assert set(batch.inputs) == set(drawn.specs)
    for name in drawn.specs:
        _check_modality(batch, drawn, name)
    targets = [s.target for s in drawn.samples]
    if targets[0] is None:
        assert batch.target is None
    else:
        assert torch.equal(batch.target, torch.stack(targets))


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(DataError, match="cannot collate an empty batch"):
        collate_samples([], SPECS)
