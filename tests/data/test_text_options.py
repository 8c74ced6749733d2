"""Tests of polymodal.data.transforms.text_options: the shared text options, tokenizer fitting
from training texts or a saved state, and the text spec."""

from __future__ import annotations

import pydantic
import pytest

from polymodal.data.transforms.text import CharTokenizer, WordTokenizer
from polymodal.data.transforms.text_options import TextOptions, fit_tokenizer, text_spec
from polymodal.errors import DataError

TRAIN = ["the cat sat", "the dog sat", "a cat"]


def test_options_defaults_and_hf_path_rules() -> None:
    o = TextOptions()
    assert (o.tokenizer, o.tokenizer_path, o.max_length, o.min_freq) == ("word", None, 32, 1)
    with pytest.raises(pydantic.ValidationError, match="hf needs tokenizer_path"):
        TextOptions(tokenizer="hf")
    with pytest.raises(pydantic.ValidationError, match="only hf takes one"):
        TextOptions(tokenizer="word", tokenizer_path="some/folder")
    with pytest.raises(pydantic.ValidationError):
        TextOptions(max_length=0)


def test_learns_the_vocabulary_of_the_given_texts_with_its_limits() -> None:
    tokenizer = fit_tokenizer("caption", TextOptions(min_freq=2), TRAIN, None)
    assert isinstance(tokenizer, WordTokenizer)
    # "the", "cat", "sat" are seen twice; "dog" and "a" once: <unk> = 1
    assert tokenizer.vocab_size == 2 + 3
    assert tokenizer.encode("the dog", 8).tolist()[1] == 1
    chars = fit_tokenizer("zh", TextOptions(tokenizer="char"), ["ab", "b"], None)
    assert isinstance(chars, CharTokenizer)
    assert chars.vocab_size == 2 + 2


def test_rebuilds_the_saved_tokenizer_and_ignores_the_texts() -> None:
    learnt = fit_tokenizer("caption", TextOptions(), TRAIN, None)
    saved = {"caption": learnt.state_dict()}
    again = fit_tokenizer("caption", TextOptions(), ["zebra unicorn"], saved, where="state")
    assert again.state_dict() == learnt.state_dict()
    assert again.encode("the zebra", 4).tolist() == learnt.encode("the zebra", 4).tolist()


def test_a_state_without_the_modality_or_of_another_kind_is_refused() -> None:
    saved = {"caption": fit_tokenizer("caption", TextOptions(), TRAIN, None).state_dict()}
    with pytest.raises(DataError, match="no tokenizer for text modality 'title'") as info:
        fit_tokenizer("title", TextOptions(), TRAIN, saved, where="state")
    assert info.value.where == "state"
    with pytest.raises(DataError, match="holds a 'word' tokenizer but the config asks for 'char'"):
        fit_tokenizer("caption", TextOptions(tokenizer="char"), TRAIN, saved)


def test_text_spec_describes_token_ids() -> None:
    tokenizer = fit_tokenizer("caption", TextOptions(max_length=7), TRAIN, None)
    spec = text_spec("caption", tokenizer, TextOptions(max_length=7))
    assert (spec.name, spec.kind, spec.shape) == ("caption", "text", (-1,))
    assert (spec.vocab_size, spec.pad_id) == (tokenizer.vocab_size, 0)
    assert spec.meta == {"tokenizer": "word", "max_length": 7}
