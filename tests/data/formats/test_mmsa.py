"""The ``mmsa`` dataset on small pickles of MMSA's layout: trust, safety, layout checks,
lengths, cleaning, labels, BERT ids, and the presets training on it through ``train``."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmsa_helpers import D_AUDIO, D_TEXT, D_VISION, T_TEXT, mmsa_data, write_pickle

from polymodal.data.collate import collate_samples
from polymodal.data.formats.mmsa import mmsa_dataset
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS


@pytest.fixture
def unaligned(tmp_path: Path) -> tuple[Path, dict]:
    data = mmsa_data(aligned=False)
    return write_pickle(data, tmp_path / "unaligned_50.pkl"), data


def test_a_pickle_is_read_only_when_trusted_and_the_error_says_why(unaligned) -> None:
    path, _ = unaligned
    with pytest.raises(ConfigError, match="run code") as err:
        mmsa_dataset(seed=0, path=path, variant="mosi")
    assert "trust_pickle: true" in str(err.value)
    assert "mmsa" in DATASETS


def test_unaligned_features_keep_their_true_lengths_cleaned(unaligned) -> None:
    path, data = unaligned
    bundle = mmsa_dataset(seed=0, path=path, variant="mosi", trust_pickle=True)
    assert set(bundle.splits) == {"train", "val", "test"}
    assert [len(bundle.splits[s]) for s in ("train", "val", "test")] == [8, 4, 4]
    assert bundle.info.task.type == "regression"
    assert bundle.info.task.num_outputs == 1
    specs = bundle.info.modalities
    assert (specs["text"].shape, specs["audio"].shape, specs["vision"].shape) == (
        (-1, D_TEXT), (-1, D_AUDIO), (-1, D_VISION),
    )  # fmt: skip
    train = data["train"]
    for i in range(8):
        sample = bundle.splits["train"][i]
        assert sample.id == train["id"][i]
        assert sample.target.tolist() == pytest.approx([float(train["regression_labels"][i])])
        audio = train["audio"][i, : train["audio_lengths"][i]].copy()
        audio[~np.isfinite(audio)] = 0
        assert torch.equal(sample.inputs["audio"], torch.from_numpy(audio))
        n_vision = int(train["vision_lengths"][i])
        if n_vision == 0:  # a length of 0: the sample lacks the modality
            assert sample.inputs["vision"] is None
        else:
            vision = np.nan_to_num(train["vision"][i, :n_vision], nan=0.0)
            assert torch.equal(sample.inputs["vision"], torch.from_numpy(vision))
        assert torch.equal(sample.inputs["text"], torch.from_numpy(train["text"][i]))
    assert bundle.splits["val"][0].id == data["valid"]["id"][0]
    # one -inf (audio) and one NaN (vision) per split, zeroed and counted
    assert specs["audio"].meta["non_finite_zeroed"] == 3
    assert specs["vision"].meta["non_finite_zeroed"] == 3
    batch = collate_samples([bundle.splits["train"][i] for i in range(8)], specs)
    assert batch.inputs["vision"].present.tolist() == [True] * 5 + [False] * 3


def test_aligned_files_keep_the_stored_length_and_time_mean_averages_it(tmp_path) -> None:
    data = mmsa_data(aligned=True)
    path = write_pickle(data, tmp_path / "aligned_50.pkl", protocol=2)
    bundle = mmsa_dataset(seed=0, path=path, variant="mosei", trust_pickle=True)
    sample = bundle.splits["test"][1]
    assert sample.inputs["audio"].shape == (T_TEXT, D_AUDIO)
    averaged = mmsa_dataset(seed=0, path=path, variant="mosei", trust_pickle=True, time_mean=True)
    vision = np.nan_to_num(data["test"]["vision"][0], nan=0.0)
    got = averaged.splits["test"][0].inputs["vision"]
    assert got.shape == (1, D_VISION)
    assert torch.allclose(got, torch.from_numpy(vision.mean(axis=0, keepdims=True)))
    assert averaged.splits["test"][0].inputs["text"].shape == (T_TEXT, D_TEXT)  # text kept


def test_bert_ids_keep_the_masked_tokens_and_the_vocabulary_is_saved(unaligned) -> None:
    path, data = unaligned
    bundle = mmsa_dataset(seed=0, path=path, variant="mosi", trust_pickle=True, text="bert_ids")
    bert = data["valid"]["text_bert"][2]
    expected = bert[0][bert[1] == 1].astype(np.int64)
    assert bundle.splits["val"][2].inputs["text"].tolist() == expected.tolist()
    spec = bundle.info.modalities["text"]
    highest = max(int(d["text_bert"][:, 0].max()) for d in data.values())
    assert spec.kind == "text"
    assert spec.vocab_size == highest + 1
    assert spec.pad_id == 0
    assert bundle.state == {"vocab_size": highest + 1}
    json.dumps(bundle.state)
    again = mmsa_dataset(
        seed=0, path=path, variant="mosi", trust_pickle=True, text="bert_ids",
        state={"vocab_size": 30522},
    )  # fmt: skip
    assert again.info.modalities["text"].vocab_size == 30522
    with pytest.raises(DataError, match="outside the vocabulary of 10 ids"):
        mmsa_dataset(
            seed=0, path=path, variant="mosi", trust_pickle=True, text="bert_ids", vocab_size=10
        )


def test_a_pickle_naming_any_other_global_is_refused_before_it_runs(tmp_path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    data = mmsa_data()
    data["train"]["raw_text"] = Payload()
    path = write_pickle(data, tmp_path / "evil.pkl")
    with pytest.raises(DataError, match=r"refused global pathlib.*Path\.touch") as err:
        mmsa_dataset(seed=0, path=path, variant="mosi", trust_pickle=True)
    assert str(path) in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["valid"].pop("audio"), r"split 'valid'.*\['audio'\] missing"),
        (lambda d: d.pop("test"), "expected a dict with keys train, valid, test"),
        (lambda d: d["train"].update(vision=np.zeros((8, 5))), r"key 'vision'.*\[N=8, T, D\]"),
        (lambda d: d["test"].update(text_bert=np.zeros((4, 2, 6))), r"\[N, 3, T\]"),
        (lambda d: d["test"]["audio_lengths"].__setitem__(1, 99), r"audio_lengths\[1\] = 99"),
        (lambda d: d["test"]["id"].__setitem__(2, d["train"]["id"][0]), "1 duplicate id"),
    ],
)
def test_a_file_off_the_layout_is_one_error_naming_split_and_key(tmp_path, change, message):
    data = mmsa_data()
    change(data)
    path = write_pickle(data, tmp_path / "bad.pkl")
    with pytest.raises(DataError, match=message) as err:
        mmsa_dataset(seed=0, path=path, variant="mosi", trust_pickle=True)
    assert str(path) in str(err.value)
    assert "fix:" in str(err.value)


def test_non_pickles_and_missing_files_are_named(tmp_path) -> None:
    text = tmp_path / "features.pkl"
    text.write_text("not a pickle")
    with pytest.raises(DataError, match="not a pickle file"):
        mmsa_dataset(seed=0, path=text, variant="mosi", trust_pickle=True)
    with pytest.raises(DataError, match="not found"):
        mmsa_dataset(seed=0, path=tmp_path / "none.pkl", variant="mosi", trust_pickle=True)
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(pickle.dumps(mmsa_data())[:500])
    with pytest.raises(DataError, match="truncated or corrupt"):
        mmsa_dataset(seed=0, path=truncated, variant="mosi", trust_pickle=True)


def test_labels_outside_the_variants_range_name_the_row(unaligned) -> None:
    path, data = unaligned
    with pytest.raises(DataError, match=r"outside sims's range \[-1, 1\]") as err:
        mmsa_dataset(seed=0, path=path, variant="sims", trust_pickle=True)
    first = int(np.flatnonzero(np.abs(data["train"]["regression_labels"]) > 1)[0])
    assert f"row {first} (id {data['train']['id'][first]!r})" in str(err.value)
    assert "split 'train'" in str(err.value)
