"""Tests of polymodal.data.manifest.fields: text vocabularies from train only, state reuse, hf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from manifest_helpers import (
    TEXT,
    all_samples,
    build,
    write_manifest,
)

from polymodal.data.manifest import manifest_dataset
from polymodal.errors import DataError


def test_vocabulary_from_train_only_and_state_reuse(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "split": "train", "text": "the cat", "label": "a"},
        {"id": "2", "split": "train", "text": "the dog", "label": "b"},
        {"id": "3", "split": "val", "text": "the owl", "label": "a"},
        {"id": "4", "split": "test", "text": "the zebra", "label": "b"},
    ]
    bundle = build(write_manifest(rows, tmp_path / "m.jsonl"), modalities={"text": TEXT})
    tokens = bundle.state["tokenizers"]["text"]["tokens"]
    assert "zebra" not in tokens
    assert "owl" not in tokens
    test = all_samples(bundle)["4"].inputs["text"].tolist()
    assert test == [tokens.index("the"), 1]  # zebra -> <unk>
    assert bundle.info.modalities["text"].vocab_size == len(tokens) == 5

    # evaluation on another manifest with the saved state: same ids, same classes
    state = json.loads(json.dumps(bundle.state))
    new_rows = [
        {"id": "n1", "split": "test", "text": "the cat zebra", "label": "b"},
        {"id": "n2", "split": "test", "text": "a dog", "label": "c"},
    ]
    path = write_manifest(new_rows, tmp_path / "n.jsonl")
    again = manifest_dataset(
        seed=0, state=state, path=path, modalities={"text": TEXT}, label="label", bad_rows="skip"
    )
    assert again.state == bundle.state
    (n1,) = list(again.splits["test"])  # type: ignore[call-overload]
    assert n1.inputs["text"].tolist() == [tokens.index("the"), tokens.index("cat"), 1]
    assert n1.target.item() == 1  # "b" keeps its index from the saved state
    assert [(s.id, s.field) for s in again.skipped] == [("n2", "label")]  # "c" is unknown
    with pytest.raises(DataError, match="not a manifest state"):
        manifest_dataset(seed=0, state=state, path=tmp_path / "n.jsonl",
                         modalities={"text": TEXT}, label="label", task="regression")  # fmt: skip


def test_hf_tokenizer_modality(tmp_path: Path) -> None:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "red", "blue"]
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "BertTokenizer", "do_lower_case": true}'
    )
    rows = [
        {"split": "train", "text": "Red blue", "label": 0},
        {"split": "train", "text": "green", "label": 1},
    ]
    text = {"kind": "text", "tokenizer": "hf", "tokenizer_path": str(folder), "max_length": 8}
    bundle = build(
        write_manifest(rows, tmp_path / "m.jsonl"), modalities={"text": text}, val_fraction=0
    )
    samples = list(bundle.splits["train"])  # type: ignore[call-overload]
    assert samples[0].inputs["text"].tolist() == [2, 5, 6, 3]
    assert samples[1].inputs["text"].tolist() == [2, 1, 3]
    spec = bundle.info.modalities["text"]
    assert spec.vocab_size == 7
    assert spec.pad_id == 0
