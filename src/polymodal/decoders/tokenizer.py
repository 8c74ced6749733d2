"""The target-text tokenizer contract shared by every decoder.

A generating model turns reference texts into target token ids and generated ids back into text
with one :class:`TargetTokenizer`. A decoder trained from zero gets one fitted on the training
targets (the wiring in :mod:`polymodal.models` does that); a decoder that comes with a pretrained
vocabulary (``causal_lm``) exposes its own as ``decoder.tokenizer`` and that one is used instead.

Conventions: ``encode`` adds no special token (the caller adds ``bos_id`` / ``eos_id``);
``decode`` drops special tokens; ``pad_id`` is never a real token of a text.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TargetTokenizer(Protocol):
    """Text <-> token ids for a decoder's vocabulary of ``vocab_size`` ids."""

    @property
    def vocab_size(self) -> int:
        """Number of ids the decoder's output layer scores."""
        ...

    @property
    def bos_id(self) -> int:
        """Id fed first when decoding starts."""
        ...

    @property
    def eos_id(self) -> int:
        """Id that ends a text."""
        ...

    @property
    def pad_id(self) -> int:
        """Id of padding positions (ignored by the loss)."""
        ...

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, no special tokens added."""
        ...

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``; special ids (bos, eos, pad) are dropped."""
        ...
