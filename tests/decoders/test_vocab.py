"""Tests of polymodal.decoders.vocab: the fitted target tokenizer, on real Tatoeba sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polymodal.decoders.tokenizer import TargetTokenizer
from polymodal.decoders.vocab import SPECIALS, TextVocabulary, vocabulary_from_state
from polymodal.errors import DataError

TATOEBA = Path(__file__).parents[2] / ".." / "shared" / "data" / "tatoeba-cmn-eng" / "cmn-eng.tsv"


def _pairs(n: int) -> list[tuple[str, str]]:
    if not TATOEBA.is_file():
        pytest.skip("needs ../shared/data/tatoeba-cmn-eng")
    lines = TATOEBA.read_text(encoding="utf-8").splitlines()[1000 : 1000 + n]
    return [(c[0], c[1]) for c in (line.split("\t") for line in lines)]


def test_word_pieces_mark_spaces_by_hand() -> None:
    vocab = TextVocabulary.fit(["Hi, Tom. Hi!"], "word")
    assert vocab.split("Hi, Tom.") == ["\u2581Hi", ",", "\u2581Tom", "."]
    # counts: ▁Hi 2, then , . ! ▁Tom once each in code-point order
    assert vocab.pieces == [*SPECIALS, "\u2581Hi", "!", ",", ".", "\u2581Tom"]
    assert vocab.encode("Hi, Tom.") == [4, 6, 8, 7]
    assert vocab.decode([1, 4, 6, 8, 7, 2, 0]) == "Hi, Tom."
    assert vocab.decode(vocab.encode("Hi, Bob.")) == "Hi,<unk>."  # an unknown piece: no space


def test_is_a_target_tokenizer_with_fixed_special_ids() -> None:
    vocab = TextVocabulary.fit(["a b"], "char")
    assert isinstance(vocab, TargetTokenizer)
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
    assert vocab.vocab_size == 4 + 3  # "a", " ", "b"


def test_round_trip_on_real_sentences() -> None:
    pairs = _pairs(300)
    english = [e for e, _ in pairs]
    chinese = [z for _, z in pairs]
    words = TextVocabulary.fit(english, "word")
    chars = TextVocabulary.fit(chinese, "char")
    for text in english:
        assert words.decode(words.encode(text)) == " ".join(text.split())
    for text in chinese:
        assert chars.decode(chars.encode(text)) == text


def test_min_freq_max_size_and_state_round_trip(tmp_path: Path) -> None:
    vocab = TextVocabulary.fit(["a a a b b c"], "word", min_freq=2, max_size=5)
    assert vocab.pieces == [*SPECIALS, "\u2581a"]  # b (2x) cut by max_size, c by min_freq
    path = tmp_path / "v.json"
    path.write_text(json.dumps(vocab.state_dict()))
    again = vocabulary_from_state(json.loads(path.read_text()))
    assert again.pieces == vocab.pieces
    assert again.encode("a b") == vocab.encode("a b") == [4, 3]


def test_bad_state_is_an_error() -> None:
    with pytest.raises(DataError, match="not a target vocabulary state"):
        vocabulary_from_state({"kind": "word"})
    with pytest.raises(DataError, match="starts with <pad>"):
        TextVocabulary("word", ["a", "b"])
