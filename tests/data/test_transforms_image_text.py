"""Tests of polymodal.data.transforms.image (against Pillow's resize and a hand computation) and
polymodal.data.transforms.text (word / char vocabularies by hand, a tiny BERT WordPiece vocab)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.data.transforms import (
    CharTokenizer,
    HFTokenizer,
    ImageTransform,
    WordTokenizer,
    build_tokenizer,
    normalize_image,
    resize_image,
    tokenizer_from_state,
)
from polymodal.errors import DataError

# --------------------------------------------------------------------------------------- image


@pytest.mark.parametrize(
    ("source", "target"),
    [((37, 53), (16, 20)), ((8, 8), (16, 12)), ((10, 40), (20, 10))],
)
def test_resize_matches_pillow_bilinear(source: tuple[int, int], target: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    channels = rng.random((3, *source), dtype=np.float32)  # [C, H, W]
    out = resize_image(torch.from_numpy(channels), target)
    assert out.shape == (3, *target)
    for c in range(3):
        # Pillow takes (width, height); mode F keeps float values
        ref = Image.fromarray(channels[c], mode="F").resize(target[::-1], Image.BILINEAR)
        np.testing.assert_allclose(out[c].numpy(), np.asarray(ref), atol=1e-5)


def test_resize_upsampling_by_hand() -> None:
    # 1 x 2 image [0, 1] -> width 4 with half-pixel centres: x_src = (x + 0.5) / 2 - 0.5
    # = -0.25, 0.25, 0.75, 1.25 -> clamped interpolation 0, 0.25, 0.75, 1
    image = torch.tensor([[[0.0, 1.0]]])  # [1, 1, 2]
    out = resize_image(image, (1, 4))
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.25, 0.75, 1.0]]]))


def test_resize_same_size_is_identity_and_bad_sizes_fail() -> None:
    image = torch.rand(3, 4, 5)
    assert torch.equal(resize_image(image, (4, 5)), image)
    with pytest.raises(DataError, match="positive"):
        resize_image(image, (0, 5))


def test_normalize_per_channel_by_hand() -> None:
    image = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), 1.0)])  # [2, 2, 2]
    out = normalize_image(image, mean=[0.25, 0.5], std=[0.5, 0.25])
    torch.testing.assert_close(out[0], torch.full((2, 2), 0.5))  # (0.5 - 0.25) / 0.5
    torch.testing.assert_close(out[1], torch.full((2, 2), 2.0))  # (1.0 - 0.5) / 0.25
    with pytest.raises(DataError, match="one value per channel"):
        normalize_image(image, mean=[0.5] * 3, std=[0.5] * 3)
    with pytest.raises(DataError, match="> 0"):
        normalize_image(image, mean=[0.5] * 2, std=[0.5, 0.0])


def test_image_transform_resizes_then_normalises() -> None:
    image = torch.rand(3, 9, 7)
    t = ImageTransform((4, 4), mean=[0.1, 0.2, 0.3], std=[0.5, 0.5, 2.0])
    expected = normalize_image(resize_image(image, (4, 4)), [0.1, 0.2, 0.3], [0.5, 0.5, 2.0])
    torch.testing.assert_close(t(image), expected)
    assert torch.equal(ImageTransform()(image), image)
    with pytest.raises(DataError, match="both mean and std"):
        ImageTransform((4, 4), mean=[0.5] * 3)


# ---------------------------------------------------------------------------------------- text

TRAIN = ["The cat sat.", "the dog sat!", "A cat, a dog."]


def test_word_tokenizer_vocabulary_by_hand() -> None:
    tok = WordTokenizer.fit(TRAIN)
    # counts: the 2, cat 2, sat 2, . 2, dog 2, a 2, ! 1, , 1; ties by code point
    assert tok.tokens == ["<pad>", "<unk>", ".", "a", "cat", "dog", "sat", "the", "!", ","]
    ids = tok.encode("The DOG, a bird.", max_length=16)
    assert ids.dtype == torch.int64
    assert ids.tolist() == [7, 5, 9, 3, 1, 2]  # bird -> <unk> (1)
    assert tok.decode(ids) == ["the", "dog", ",", "a", "<unk>", "."]
    assert tok.pad_id == 0
    assert tok.vocab_size == 10


def test_word_tokenizer_min_freq_max_size_and_order_independence() -> None:
    tok = WordTokenizer.fit(TRAIN, min_freq=2)
    assert tok.tokens == ["<pad>", "<unk>", ".", "a", "cat", "dog", "sat", "the"]
    capped = WordTokenizer.fit(TRAIN, max_size=4)
    assert capped.tokens == ["<pad>", "<unk>", ".", "a"]  # the cap counts the two specials
    assert WordTokenizer.fit(list(reversed(TRAIN))).tokens == WordTokenizer.fit(TRAIN).tokens
    with pytest.raises(DataError, match="max_size"):
        WordTokenizer.fit(TRAIN, max_size=1)


def test_encode_truncates_and_never_returns_empty() -> None:
    tok = WordTokenizer.fit(TRAIN)
    assert tok.encode("the cat sat the cat", max_length=2).tolist() == [7, 4]
    assert tok.encode("", max_length=5).tolist() == [1]  # one <unk>: T >= 1
    assert tok.encode("   ", max_length=5).tolist() == [1]
    with pytest.raises(DataError, match="max_length"):
        tok.encode("the", max_length=0)


def test_char_tokenizer_keeps_case_and_spaces() -> None:
    tok = CharTokenizer.fit(["abba", "Ab a"])
    # counts (case kept): a 3, b 3, ' ' 1, A 1; ties in code-point order
    assert tok.tokens == ["<pad>", "<unk>", "a", "b", " ", "A"]
    assert tok.encode("Abz", max_length=8).tolist() == [5, 3, 1]
    lower = CharTokenizer.fit(["abba", "Ab a"], lowercase=True)
    assert lower.encode("AB", max_length=8).tolist() == lower.encode("ab", max_length=8).tolist()


def test_state_round_trips_through_json() -> None:
    for tok in (WordTokenizer.fit(TRAIN, min_freq=2), CharTokenizer.fit(TRAIN)):
        state = json.loads(json.dumps(tok.state_dict()))
        again = tokenizer_from_state(state)
        assert type(again) is type(tok)
        for text in ["The cat, a DOG!", "zzz", ""]:
            assert torch.equal(again.encode(text, 10), tok.encode(text, 10))
    with pytest.raises(DataError, match="unknown tokenizer kind"):
        tokenizer_from_state({"kind": "bpe"})
    with pytest.raises(DataError, match="not a word tokenizer state"):
        WordTokenizer.from_state({"kind": "char", "tokens": ["<pad>", "<unk>"]})
    with pytest.raises(DataError, match="must start with"):
        WordTokenizer(["a", "<pad>", "<unk>"], lowercase=True)


def _tiny_bert(folder: Path) -> Path:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "un", "##aff"]
    vocab += ["##able", "!"]
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_hf_tokenizer_wordpiece_ids_by_hand(tmp_path: Path) -> None:
    folder = _tiny_bert(tmp_path / "bert")
    tok = HFTokenizer(str(folder))
    # [CLS] hello world un ##aff ##able ! [SEP]; "Hello" is lower-cased; "moon" -> [UNK]
    assert tok.encode("Hello world unaffable!", 32).tolist() == [2, 5, 6, 7, 8, 9, 10, 3]
    assert tok.encode("moon", 32).tolist() == [2, 1, 3]
    assert tok.encode("hello world hello", 3).tolist() == [2, 5, 3]  # truncated, [SEP] kept
    assert tok.encode("", 8).tolist() == [2, 3]
    assert tok.pad_id == 0
    assert tok.vocab_size == 11
    again = tokenizer_from_state(json.loads(json.dumps(tok.state_dict())))
    assert again.encode("hello moon", 8).tolist() == [2, 5, 1, 3]
    same = build_tokenizer("hf", path_or_id=str(folder))
    assert same.encode("world", 8).tolist() == [2, 6, 3]


def test_hf_tokenizer_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot load the Hugging Face tokenizer"):
        HFTokenizer(str(tmp_path / "empty"), local_files_only=True)
    with pytest.raises(DataError, match="needs path_or_id"):
        build_tokenizer("hf")


def test_build_tokenizer_learns_from_the_given_texts_only() -> None:
    tok = build_tokenizer("word", ["red fox"], min_freq=1)
    assert tok.encode("red wolf", 4).tolist() == [tok.encode("red", 4).item(), 1]
    char = build_tokenizer("char", ["ab"])
    assert isinstance(char, CharTokenizer)
    assert char.vocab_size == 4
