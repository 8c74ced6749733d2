"""Text tokenisation: strings -> int64 token ids ``[T]``.

Two built-in tokenisers learn a vocabulary from the *training* split only (so no word of the
validation or test text leaks into preprocessing): :class:`WordTokenizer` (lower-cased words and
single punctuation marks) and :class:`CharTokenizer` (characters). Both reserve ``<pad>`` = 0 and
``<unk>`` = 1; out-of-vocabulary tokens map to ``<unk>``. :class:`HFTokenizer` wraps a Hugging Face
tokenizer (``AutoTokenizer.from_pretrained``) behind the same interface.

Conventions of ``encode(text, max_length)``: ids are truncated to the first ``max_length``; the
result always has ``T >= 1``: a text with no tokens (``""``, only spaces) encodes as one ``<unk>``
(so a present-but-empty text still has one non-padding position; missing text is a different
state, marked by the modality's ``present`` flag).

``state_dict()`` is JSON-serialisable; :func:`tokenizer_from_state` rebuilds the same tokeniser,
so evaluation reuses the training vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from polymodal.errors import DataError

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
_WORD_RE = re.compile(r"\w+|[^\w\s]")  # a run of letters/digits/_, or one punctuation mark

TokenizerKind = Literal["word", "char", "hf"]


@runtime_checkable
class Tokenizer(Protocol):
    """What every tokeniser offers: ids, vocabulary size, pad id and a JSON state."""

    kind: str
    pad_id: int

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str, max_length: int) -> Tensor: ...

    def state_dict(self) -> dict[str, Any]: ...


def _check_max_length(max_length: int) -> None:
    if max_length < 1:
        raise DataError(f"max_length must be >= 1, got {max_length}", fix="use e.g. 128")


class _VocabTokenizer:
    """A tokeniser with a vocabulary learnt by counting tokens; subclasses define :meth:`split`."""

    kind: ClassVar[str]
    pad_id: int = 0
    unk_id: int = 1

    def __init__(self, tokens: Sequence[str], *, lowercase: bool) -> None:
        tokens = list(tokens)
        if tokens[:2] != [PAD_TOKEN, UNK_TOKEN]:
            raise DataError(
                f"a {self.kind} vocabulary must start with {PAD_TOKEN!r}, {UNK_TOKEN!r}",
                fix="build it with fit() or from a state_dict() of the same tokeniser",
            )
        if len(set(tokens)) != len(tokens):
            raise DataError(f"the {self.kind} vocabulary has duplicate tokens")
        self.lowercase = lowercase
        self.tokens = tokens
        self.index = {token: i for i, token in enumerate(tokens)}

    def split(self, text: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool | None = None,
    ) -> _VocabTokenizer:
        """Learn a vocabulary from ``texts`` (give the training split only).

        Tokens seen at least ``min_freq`` times are kept, most frequent first (ties in code-point
        order, so the result does not depend on the order of ``texts``), after the two specials;
        ``max_size`` caps the whole vocabulary, specials included.
        """
        if min_freq < 1:
            raise DataError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 2:
            raise DataError(f"max_size must be >= 2 (the two specials), got {max_size}")
        probe = cls([PAD_TOKEN, UNK_TOKEN], lowercase=cls._default_lowercase(lowercase))
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(probe.split(text))
        for special in (PAD_TOKEN, UNK_TOKEN):
            counts.pop(special, None)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            kept = kept[: max_size - 2]
        return cls([PAD_TOKEN, UNK_TOKEN, *kept], lowercase=probe.lowercase)

    @staticmethod
    def _default_lowercase(lowercase: bool | None) -> bool:  # pragma: no cover - overridden
        return bool(lowercase)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, max_length: int) -> Tensor:
        """int64 ``[T]`` ids, ``1 <= T <= max_length``; unknown tokens -> ``<unk>`` (1)."""
        _check_max_length(max_length)
        ids = [self.index.get(token, self.unk_id) for token in self.split(text)[:max_length]]
        return torch.tensor(ids or [self.unk_id], dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids`` (for inspection; padding included)."""
        return [self.tokens[int(i)] for i in ids]

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "tokens": list(self.tokens)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _VocabTokenizer:
        if state.get("kind") != cls.kind or not isinstance(state.get("tokens"), list):
            raise DataError(
                f"not a {cls.kind} tokenizer state (kind {state.get('kind')!r})",
                fix="pass the state saved with the same tokenizer kind",
            )
        return cls(state["tokens"], lowercase=bool(state.get("lowercase", False)))


class WordTokenizer(_VocabTokenizer):
    """Words (runs of letters, digits and ``_``) and single punctuation marks, lower-cased.

    Example:
        >>> tok = WordTokenizer.fit(["A cat.", "a dog"])
        >>> tok.decode(tok.encode("A bird!", max_length=8))
        ['a', '<unk>', '<unk>']
    """

    kind: ClassVar[str] = "word"

    @staticmethod
    def _default_lowercase(lowercase: bool | None) -> bool:
        return True if lowercase is None else lowercase

    def split(self, text: str) -> list[str]:
        return _WORD_RE.findall(text.lower() if self.lowercase else text)


class CharTokenizer(_VocabTokenizer):
    """Every character is a token (spaces included); case is kept unless ``lowercase``."""

    kind: ClassVar[str] = "char"

    @staticmethod
    def _default_lowercase(lowercase: bool | None) -> bool:
        return False if lowercase is None else lowercase

    def split(self, text: str) -> list[str]:
        return list(text.lower() if self.lowercase else text)


class HFTokenizer:
    """A Hugging Face tokenizer, ``AutoTokenizer.from_pretrained(path_or_id)``, as a Tokenizer.

    ``path_or_id`` is a tokenizer folder, a Hub id, or ``package:NAME/sub`` (a folder shipped
    inside an installed Python package, found with
    :func:`polymodal.sources.resolve_checkpoint`; it is read from disk only), or a causal LM's
    ``.gguf`` file (e.g. the packaged SmolLM2: its vocabulary, read from the LM cache of
    :mod:`polymodal.lm_source` when ``POLYMODAL_LM_CACHE`` holds a conversion).
    ``encode`` adds the model's special tokens (e.g. ``[CLS] ... [SEP]`` for BERT) and truncates
    to ``max_length`` ids; ``pad_id`` is the tokenizer's pad token (0 when it has none).
    There is nothing to learn: the state only records ``path_or_id`` as given (a ``package:``
    reference stays one, so a state moves between machines that install the package elsewhere).

    Raises:
        CheckpointError: a ``package:`` reference whose package or folder is not installed.
        DataError: the tokenizer cannot be loaded (bad path, or an id not in the local cache
            when offline).
    """

    kind: ClassVar[str] = "hf"

    def __init__(self, path_or_id: str, *, local_files_only: bool = False) -> None:
        from transformers import AutoTokenizer  # heavy: imported only when used

        from polymodal.sources import PACKAGE_PREFIX, resolve_checkpoint

        self.path_or_id = str(path_or_id)
        self.local_files_only = local_files_only
        location, local_only = self.path_or_id, local_files_only
        if self.path_or_id.strip().startswith(PACKAGE_PREFIX):
            location, local_only = resolve_checkpoint(self.path_or_id).location, True
        try:
            if location.endswith(".gguf"):  # a causal LM's GGUF file: through the LM cache
                from polymodal.lm_source import load_lm_tokenizer

                self.tokenizer = load_lm_tokenizer(self.path_or_id)
            else:
                self.tokenizer = AutoTokenizer.from_pretrained(
                    location, local_files_only=local_only
                )
        except (OSError, ValueError) as exc:
            raise DataError(
                f"cannot load the Hugging Face tokenizer {self.path_or_id!r} ({exc})",
                fix="give a folder holding tokenizer files (tokenizer.json or vocab.txt and "
                "tokenizer_config.json), or a hub id available offline",
            ) from None
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else 0
        unk = self.tokenizer.unk_token_id
        self.unk_id = int(unk) if unk is not None else self.pad_id

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def encode(self, text: str, max_length: int) -> Tensor:
        """int64 ``[T]`` ids with special tokens, ``1 <= T <= max_length``."""
        _check_max_length(max_length)
        ids = self.tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        return torch.tensor(list(ids)[:max_length] or [self.unk_id], dtype=torch.long)

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path_or_id": self.path_or_id,
            "local_files_only": self.local_files_only,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HFTokenizer:
        if state.get("kind") != cls.kind or not isinstance(state.get("path_or_id"), str):
            raise DataError(f"not an hf tokenizer state (kind {state.get('kind')!r})")
        return cls(state["path_or_id"], local_files_only=bool(state.get("local_files_only")))


_VOCAB_KINDS: dict[str, type[_VocabTokenizer]] = {"word": WordTokenizer, "char": CharTokenizer}


def build_tokenizer(
    kind: TokenizerKind,
    texts: Iterable[str] = (),
    *,
    min_freq: int = 1,
    max_size: int | None = None,
    lowercase: bool | None = None,
    path_or_id: str | None = None,
) -> Tokenizer:
    """A tokenizer of ``kind``: ``word`` / ``char`` learn their vocabulary from ``texts`` (the
    training split); ``hf`` loads ``path_or_id`` and ignores the other arguments.
    """
    if kind == "hf":
        if not path_or_id:
            raise DataError(
                "an hf tokenizer needs path_or_id",
                fix="set tokenizer_path to a tokenizer folder or hub id",
            )
        return HFTokenizer(path_or_id)
    if kind not in _VOCAB_KINDS:
        raise DataError(f"unknown tokenizer kind {kind!r}", fix="use one of: word, char, hf")
    return _VOCAB_KINDS[kind].fit(texts, min_freq=min_freq, max_size=max_size, lowercase=lowercase)


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its :meth:`state_dict`."""
    kind = state.get("kind")
    if kind == "hf":
        return HFTokenizer.from_state(state)
    if kind in _VOCAB_KINDS:
        return _VOCAB_KINDS[kind].from_state(state)
    raise DataError(f"unknown tokenizer kind {kind!r} in state", fix="use one of: word, char, hf")
