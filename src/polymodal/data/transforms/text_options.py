"""Options of a text modality's tokenisation, fitting its tokenizer, and its spec.

Shared by the datasets that tokenise text (``manifest`` text modalities, ``translation-pairs``
sides): :class:`TextOptions` names the tokenizer and its vocabulary limits, :func:`fit_tokenizer`
learns a ``word`` / ``char`` vocabulary from the *training* texts (or loads an ``hf`` tokenizer),
or rebuilds the tokenizer a saved state holds, and :func:`text_spec` describes the result:
int64 token ids ``[T]``, ``T <= max_length``, spec shape ``(-1,)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from polymodal.data.schema import ModalitySpec
from polymodal.data.transforms.text import Tokenizer, build_tokenizer, tokenizer_from_state
from polymodal.errors import DataError


class TextOptions(BaseModel):
    """Tokenisation of one text modality.

    Attributes:
        tokenizer: ``word`` / ``char`` (vocabulary learnt on the training split) or ``hf``.
        tokenizer_path: ``hf`` only: a tokenizer folder, a Hub id or ``package:NAME/sub``.
        max_length: ids kept per text (``T <= max_length``, special tokens included).
        min_freq, max_vocab_size: word/char: keep tokens seen ``min_freq`` times in training
            text, at most ``max_vocab_size`` ids including ``<pad>`` and ``<unk>``.
        lowercase: word/char: lower-case first (default: word yes, char no).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokenizer: Literal["word", "char", "hf"] = "word"
    tokenizer_path: str | None = Field(None, min_length=1)
    max_length: int = Field(32, ge=1)
    min_freq: int = Field(1, ge=1)
    max_vocab_size: int | None = Field(None, ge=2)
    lowercase: bool | None = None

    @model_validator(mode="after")
    def _path_with_hf(self) -> TextOptions:
        if (self.tokenizer == "hf") != (self.tokenizer_path is not None):
            raise ValueError("tokenizer: hf needs tokenizer_path, and only hf takes one")
        return self


def fit_tokenizer(
    name: str,
    options: TextOptions,
    texts: Iterable[str],
    saved: Mapping[str, Any] | None,
    *,
    where: str | None = None,
) -> Tokenizer:
    """The tokenizer of text modality ``name``: rebuilt from ``saved``, or learnt.

    Args:
        name: the modality, for messages.
        options: its tokenisation.
        texts: its training texts (read only to learn a ``word`` / ``char`` vocabulary).
        saved: the saved states of the tokenizers, by modality (a bundle state's
            ``tokenizers``), or None to learn the tokenizer afresh.
        where: where the state comes from, for messages.

    Raises:
        DataError: ``saved`` lacks ``name``, or holds a tokenizer of another kind.
    """
    if saved is None:
        return build_tokenizer(
            options.tokenizer,
            texts,
            min_freq=options.min_freq,
            max_size=options.max_vocab_size,
            lowercase=options.lowercase,
            path_or_id=options.tokenizer_path,
        )
    state = saved.get(name)
    if not isinstance(state, dict):
        raise DataError(
            f"the state has no tokenizer for text modality {name!r}",
            where=where,
            fix="pass the state of a build with the same modalities",
        )
    if state.get("kind") != options.tokenizer:
        raise DataError(
            f"text modality {name!r}: the state holds a {state.get('kind')!r} tokenizer but "
            f"the config asks for {options.tokenizer!r}",
            where=where,
            fix="use the same tokenizer as the run that saved the state",
        )
    return tokenizer_from_state(state)


def text_spec(name: str, tokenizer: Tokenizer, options: TextOptions) -> ModalitySpec:
    """The spec of token ids ``[T]`` from ``tokenizer`` (shape ``(-1,)``, its vocabulary and
    pad id; ``meta``: the tokenizer kind and ``max_length``)."""
    return ModalitySpec(
        name,
        "text",
        (-1,),
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        meta={"tokenizer": options.tokenizer, "max_length": options.max_length},
    )
