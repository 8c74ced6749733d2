"""Answer extraction rules against hand-made outputs."""

from __future__ import annotations

import pytest

from polymodal.tasks import EXTRACTORS, extract, normalise

CHOICES = ["red", "green", "blue"]


@pytest.mark.parametrize(
    ("rule", "params", "text", "expected"),
    [
        ("exact", {}, "  Red. \n", "Red."),
        ("normalised", {}, " The Red  circle! ", "red circle"),
        ("first_line", {}, "\n  a dog runs\nsecond", "a dog runs"),
        ("regex", {"pattern": r"answer:\s*(\w+)"}, "So the Answer: Blue.", "Blue"),
        ("regex", {"pattern": r"answer:\s*(\w+)"}, "no idea", ""),
        ("choice_letter", {}, "I think (B) is right", "green"),
        ("choice_letter", {}, "C.", "blue"),
        ("choice_letter", {}, "It is clearly blue", "blue"),
        ("choice_letter", {}, "Dunno", ""),
        ("yes_no", {}, "Yes, it does.", "yes"),
        ("yes_no", {}, "no", "no"),
        ("yes_no", {}, "maybe yes", ""),
    ],
)  # fmt: skip
def test_rules(rule: str, params: dict, text: str, expected: str) -> None:
    assert extract(rule, params, text, CHOICES) == expected


def test_registry_and_normalisation() -> None:
    assert {"exact", "normalised", "regex", "choice_letter", "yes_no"} <= set(EXTRACTORS.names())
    assert normalise("An apple, the pear; a FIG") == "apple pear fig"
