"""Stop token ids, stop strings (through a detokenize callback) and max_new_tokens."""

from __future__ import annotations

import pydantic
import pytest
from decoder_tables import BOS, EOS, A, B, C, PrefixTable, no_memory

from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions

TEXT = {A: "a", B: "b", C: "c", EOS: "</s>"}


def detokenize(tokens: list[int]) -> str:
    return "".join(TEXT[t] for t in tokens)


# A certain path: a b c a b c EOS
PATH = [A, B, C, A, B, C]
TABLE = {(BOS, *PATH[:i]): {PATH[i]: 1.0} for i in range(len(PATH))}


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_a_stop_string_cuts_the_output(strategy: str) -> None:
    opts = DecodingOptions(strategy=strategy, stop_ids=(EOS,), stop_strings=("ca", "zz"))
    out = generate(PrefixTable(TABLE), *no_memory(), opts, detokenize=detokenize)
    assert out.texts == ["ab"]  # cut before "ca"
    assert out.tokens == [[A, B, C, A]]  # up to the token that completed it
    assert out.finish == ["stop_string"]


def test_a_stop_token_ends_and_is_not_returned() -> None:
    out = generate(
        PrefixTable(TABLE), *no_memory(), DecodingOptions(stop_ids=(EOS,)), detokenize=detokenize
    )
    assert out.tokens == [PATH]
    assert out.texts == ["abcabc"]
    assert out.finish == ["stop_id"]


def test_max_new_tokens_ends_a_sample() -> None:
    out = generate(PrefixTable(TABLE), *no_memory(), DecodingOptions(max_new_tokens=4))
    assert out.tokens == [PATH[:4]]
    assert out.finish == ["length"]
    assert out.texts is None


def test_stop_strings_need_a_detokenize_callback() -> None:
    with pytest.raises(ValueError, match="detokenize"):
        generate(PrefixTable(TABLE), *no_memory(), DecodingOptions(stop_strings=("a",)))


def test_options_are_validated() -> None:
    with pytest.raises(pydantic.ValidationError):
        DecodingOptions(top_p=0.0)
    with pytest.raises(pydantic.ValidationError):
        DecodingOptions(strategy="nucleus")
    with pytest.raises(pydantic.ValidationError):
        DecodingOptions(max_new_tokens=0)
