"""Tests of polymodal.data.collate: padding (against torch's pad_sequence), presence flags, the
missing-sample convention of schema.py, pad_id for text, and targets."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from polymodal.data.bundle import ListDataset
from polymodal.data.collate import Collator, collate_modality, collate_samples
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.errors import DataError

TEXT = ModalitySpec("text", "text", (-1,), vocab_size=10, pad_id=7)
AUDIO = ModalitySpec("audio", "audio", (-1, 3))
IMAGE = ModalitySpec("image", "image", (1, 2, 2))
TABULAR = ModalitySpec("tab", "tabular", (4,))


def test_text_padding_uses_pad_id_and_marks_padding() -> None:
    ids = [torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6])]
    batch = collate_modality(ids, TEXT)
    assert batch.values.dtype == torch.int64
    reference = pad_sequence(ids, batch_first=True, padding_value=7)
    assert torch.equal(batch.values, reference)
    assert batch.values.tolist() == [[1, 2, 3], [4, 7, 7], [5, 6, 7]]
    assert batch.padding_mask.tolist() == [
        [False, False, False],
        [False, True, True],
        [False, False, True],
    ]
    assert batch.present.tolist() == [True, True, True]


def test_missing_text_keeps_one_zero_position_that_is_not_padding() -> None:
    batch = collate_modality([torch.tensor([1, 2, 3]), None, torch.tensor([5])], TEXT)
    assert batch.present.tolist() == [True, False, True]
    # schema.py: a missing sample's values are zeros and exactly one position is not padding
    assert batch.values[1].tolist() == [0, 7, 7]
    assert batch.padding_mask[1].tolist() == [False, True, True]
    assert batch.values[2].tolist() == [5, 7, 7]
    assert (~batch.padding_mask).sum(dim=1).tolist() == [3, 1, 1]  # no empty attention row


def test_audio_sequences_pad_with_zeros() -> None:
    torch.manual_seed(0)
    frames = [torch.randn(4, 3), None, torch.randn(2, 3)]
    batch = collate_modality(frames, AUDIO)
    assert batch.values.dtype == torch.float32
    assert batch.values.shape == (3, 4, 3)
    reference = pad_sequence([frames[0], torch.zeros(1, 3), frames[2]], batch_first=True)
    assert torch.equal(batch.values, reference)
    assert batch.padding_mask.tolist() == [
        [False, False, False, False],
        [False, True, True, True],
        [False, False, True, True],
    ]


def test_fixed_size_modalities_stack_with_zeros_for_missing() -> None:
    images = [torch.full((1, 2, 2), 0.5), None]
    batch = collate_modality(images, IMAGE)
    assert batch.padding_mask is None
    assert batch.values.shape == (2, 1, 2, 2)
    assert torch.equal(batch.values[0], images[0])
    assert torch.equal(batch.values[1], torch.zeros(1, 2, 2))
    assert batch.present.tolist() == [True, False]
    table = collate_modality([torch.arange(4.0), torch.ones(4)], TABULAR)
    assert torch.equal(table.values, torch.stack([torch.arange(4.0), torch.ones(4)]))


def test_all_missing_takes_its_shape_from_the_spec() -> None:
    audio = collate_modality([None, None], AUDIO)
    assert audio.values.shape == (2, 1, 3)
    assert audio.padding_mask.tolist() == [[False], [False]]
    assert audio.present.tolist() == [False, False]
    image = collate_modality([None], IMAGE)
    assert image.values.shape == (1, 1, 2, 2)
    assert not image.present.any()


def test_collate_samples_ids_targets_and_absent_keys() -> None:
    samples = [
        Sample("a", {"text": torch.tensor([1, 2]), "tab": torch.ones(4)}, torch.tensor(2)),
        Sample("b", {"text": None}, torch.tensor(0)),  # "tab" absent from inputs: missing
    ]
    batch = collate_samples(samples, {"text": TEXT, "tab": TABULAR})
    assert batch.ids == ["a", "b"]
    assert len(batch) == 2
    assert list(batch.modalities()) == ["text", "tab"]
    assert batch.target.tolist() == [2, 0]
    assert batch.inputs["tab"].present.tolist() == [True, False]
    assert batch.inputs["text"].present.tolist() == [True, False]
    unlabelled = collate_samples([Sample("c", {"text": torch.tensor([3])})], {"text": TEXT})
    assert unlabelled.target is None


def test_collator_is_picklable_and_feeds_a_dataloader() -> None:
    collator = pickle.loads(pickle.dumps(Collator({"text": TEXT})))
    samples = [Sample(str(i), {"text": torch.arange(1, i + 2)}, torch.tensor(i)) for i in range(3)]
    loader = DataLoader(ListDataset(samples), batch_size=3, collate_fn=collator)
    (batch,) = list(loader)
    assert batch.inputs["text"].values.tolist() == [[1, 7, 7], [1, 2, 7], [1, 2, 3]]
    assert batch.target.tolist() == [0, 1, 2]


def test_fixed_size_shape_mismatch_is_an_error() -> None:
    with pytest.raises(DataError, match=r"sample b: modality 'tab' has shape \[1\]"):
        collate_modality([torch.ones(4), torch.tensor([7.0])], TABULAR, ids=["a", "b"])


def test_present_empty_sequence_is_an_error_naming_the_sample() -> None:
    with pytest.raises(DataError, match="length 0"):
        collate_modality([torch.tensor([1, 2]), torch.zeros(0, dtype=torch.long)], TEXT)


def test_partly_labelled_or_empty_batch_is_an_error() -> None:
    labelled = Sample("a", {"text": torch.tensor([1])}, torch.tensor(0))
    unlabelled = Sample("b", {"text": torch.tensor([2])}, None)
    with pytest.raises(DataError, match=r"have no target: \['b'\]"):
        collate_samples([labelled, unlabelled], {"text": TEXT})
    assert collate_samples([unlabelled], {"text": TEXT}).target is None
    with pytest.raises(DataError, match="empty batch"):
        collate_samples([], {"text": TEXT})
