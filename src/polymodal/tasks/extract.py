"""Answer extraction: named rules that turn a model's raw output into the answer that is scored.

Every rule is registered in :data:`EXTRACTORS` and called as ``rule(text, choices, **params)``;
the task file names the rule and its parameters (``extraction: {rule: regex, pattern: ...}``), and
the rule's name and parameters are recorded with every result. A rule that finds nothing returns
``""`` (scored as a wrong answer, visible in the predictions table), never an error.

Rules:

- ``exact``: the text with surrounding whitespace removed;
- ``normalised``: SQuAD normalisation: lower case, punctuation and the articles a / an / the
  removed, whitespace collapsed;
- ``first_line``: the first non-empty line, stripped;
- ``regex``: group ``group`` of the first match of ``pattern`` (case-insensitive unless
  ``ignore_case`` is false), stripped;
- ``choice_letter``: the first standalone letter A, B, ... naming one of the choices (``(B)``,
  ``B.``, ``Answer: B``), mapped to that choice; failing that, the one choice whose text the
  output contains;
- ``yes_no``: ``positive`` (default ``yes``) or ``negative`` (``no``) from the first word of the
  normalised text.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from polymodal.registry import Registry

EXTRACTORS: Registry[Any] = Registry("extraction rule", injected=("text", "choices"), checked=True)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalise(text: str) -> str:
    """SQuAD v2.0's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


@EXTRACTORS.register("exact")
def exact(text: str, choices: Sequence[str]) -> str:
    """The output with surrounding whitespace removed."""
    return text.strip()


@EXTRACTORS.register("normalised")
def normalised(text: str, choices: Sequence[str]) -> str:
    """SQuAD normalisation: lower case, no punctuation or articles, single spaces."""
    return normalise(text)


@EXTRACTORS.register("first_line")
def first_line(text: str, choices: Sequence[str]) -> str:
    """The first non-empty line of the output, stripped."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


@EXTRACTORS.register("regex")
def regex(
    text: str, choices: Sequence[str], pattern: str, group: int = 1, ignore_case: bool = True
) -> str:
    """Group ``group`` of the first match of ``pattern`` (``""`` when nothing matches)."""
    match = re.search(pattern, text, re.IGNORECASE if ignore_case else 0)
    if match is None:
        return ""
    return (match.group(group) if match.re.groups >= group else match.group(0)).strip()


@EXTRACTORS.register("choice_letter")
def choice_letter(text: str, choices: Sequence[str]) -> str:
    """The choice named by the first standalone letter A, B, ... (or the one choice quoted)."""
    letters = string.ascii_uppercase[: len(choices)]
    if letters:
        match = re.search(rf"(?<![A-Za-z])([{letters}])(?![A-Za-z])", text)
        if match:
            return choices[letters.index(match.group(1))]
    found = [c for c in choices if normalise(c) and normalise(c) in normalise(text)]
    return found[0] if len(found) == 1 else ""


@EXTRACTORS.register("yes_no")
def yes_no(text: str, choices: Sequence[str], positive: str = "yes", negative: str = "no") -> str:
    """``positive`` or ``negative`` from the first word of the normalised output, else ``""``."""
    words = normalise(text).split()
    first = words[0] if words else ""
    if first == normalise(positive):
        return positive
    return negative if first == normalise(negative) else ""


def check_rule(rule: str, params: dict[str, Any]) -> list[str]:
    """Problems of an extraction rule and its parameters (empty when valid)."""
    import pydantic

    if rule not in EXTRACTORS:
        return [f"unknown extraction rule {rule!r} (allowed: {', '.join(EXTRACTORS.names())})"]
    try:
        EXTRACTORS.params_model(rule).model_validate(params)
    except pydantic.ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    if rule == "regex":
        try:
            re.compile(params.get("pattern", ""))
        except re.error as exc:
            return [f"pattern: not a regular expression ({exc})"]
    return []


def extract(rule: str, params: dict[str, Any], text: str, choices: Sequence[str] = ()) -> str:
    """The answer rule ``rule`` extracts from ``text``."""
    return str(EXTRACTORS.get(rule)(text, choices, **params))
