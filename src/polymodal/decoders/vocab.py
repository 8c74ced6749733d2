"""``TextVocabulary``: a target tokenizer fitted on training references, reversible, JSON-saved.

The :class:`~polymodal.decoders.tokenizer.TargetTokenizer` of a decoder trained from zero. Two
kinds, both reversible (``decode(encode(t))`` gives ``t`` back, up to runs of spaces and words
outside the vocabulary):

- ``word``: words (runs of letters, digits, ``_``) and single punctuation marks; a piece that
  follows a space carries a leading ``▁`` (U+2581), as SentencePiece writes it, so decoding
  puts spaces back where they were: ``"Hi, Tom."`` -> ``▁Hi`` ``,`` ``▁Tom`` ``.`` (the first
  piece of a text gets the mark too);
- ``char``: one piece per character (for Chinese, written without spaces), spaces included.

Ids: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then the pieces seen at least
``min_freq`` times in the training texts, most frequent first (ties in code-point order), at most
``max_size`` ids in all. ``encode`` adds no special id; ``decode`` drops specials and writes
``<unk>`` for unknown pieces (without the space an unknown word had). Case is kept unless
``lowercase``.

Saved as JSON (:meth:`TextVocabulary.state_dict`, :func:`vocabulary_from_state`), never pickled.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from polymodal.errors import DataError

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
SPACE = "\u2581"
_PIECE = re.compile(r"(\s*)(\w+|[^\w\s])")
VocabularyKind = Literal["word", "char"]


class TextVocabulary:
    """Text <-> ids over a fitted vocabulary (see the module docs).

    Args:
        kind: ``word`` or ``char``.
        pieces: every id's piece, the four specials first.
        lowercase: lower-case texts before splitting.
    """

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, kind: VocabularyKind, pieces: Sequence[str], lowercase: bool = False):
        if kind not in ("word", "char"):
            raise DataError(f"unknown target tokenizer {kind!r}", fix="use word or char")
        if tuple(pieces[:4]) != SPECIALS or len(set(pieces)) != len(pieces):
            raise DataError(
                "a target vocabulary starts with <pad>, <bos>, <eos>, <unk> and has no repeat",
                fix="fit it with TextVocabulary.fit, or load the JSON it saved",
            )
        self.kind, self.pieces, self.lowercase = kind, list(pieces), lowercase
        self.index = {p: i for i, p in enumerate(self.pieces)}

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def split(self, text: str) -> list[str]:
        """The pieces of ``text`` (see the module docs)."""
        text = text.lower() if self.lowercase else text
        if self.kind == "char":
            return list(text)
        return [
            (SPACE if gap or i == 0 else "") + w for i, (gap, w) in enumerate(_PIECE.findall(text))
        ]

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s pieces (unknown ones: ``<unk>``), no special id added."""
        return [self.index.get(p, self.unk_id) for p in self.split(text)]

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``; ``<pad>``, ``<bos>``, ``<eos>`` dropped."""
        skip = {self.pad_id, self.bos_id, self.eos_id}
        pieces = [self.pieces[i] for i in ids if i not in skip and 0 <= i < len(self.pieces)]
        if self.kind == "char":
            return "".join(pieces)
        return "".join(pieces).replace(SPACE, " ").strip()

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        kind: VocabularyKind = "word",
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool = False,
    ) -> TextVocabulary:
        """Learn the pieces of ``texts`` (the training references only)."""
        probe = cls(kind, SPECIALS, lowercase)
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(probe.split(text))
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted(
            (p for p, c in counts.items() if c >= min_freq), key=lambda p: (-counts[p], p)
        )
        if max_size is not None:
            kept = kept[: max(max_size - len(SPECIALS), 0)]
        return cls(kind, [*SPECIALS, *kept], lowercase)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (see :func:`vocabulary_from_state`)."""
        return {"kind": self.kind, "lowercase": self.lowercase, "pieces": list(self.pieces)}


def vocabulary_from_state(state: dict[str, Any]) -> TextVocabulary:
    """The vocabulary a :meth:`TextVocabulary.state_dict` describes."""
    if not isinstance(state, dict) or not isinstance(state.get("pieces"), list):
        raise DataError(
            "not a target vocabulary state (a mapping with kind, lowercase, pieces)",
            fix="load the target_tokenizer.json a training run wrote",
        )
    return TextVocabulary(state.get("kind", "word"), state["pieces"], bool(state.get("lowercase")))
