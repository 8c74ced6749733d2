"""The :class:`~polymodal.decoders.tokenizer.TargetTokenizer` of a pretrained causal LM.

The ids are the LM's own: ``bos_id`` is the tokenizer's BOS token (its EOS token when it has
none, as Qwen-style tokenizers), ``eos_id`` its EOS token. A padding id must never be a real
token of a text (the loss ignores it), so a tokenizer without a pad token, or whose pad token
is its EOS token (SmolLM2, Llama-style), gets a new ``<pad>`` special token: it takes the first
id past the tokenizer's vocabulary, and the LM's embeddings grow to cover it only when that id
is not already a row of the LM (vocabularies padded to a multiple of 64 have spare rows); new
rows are the mean of the existing ones (input and output).
"""

from __future__ import annotations

from typing import Any

import torch

PAD_TOKEN = "<pad>"
"""The pad token added to a tokenizer that has none of its own."""


class CausalLMTokenizer:
    """A Hugging Face tokenizer seen through the :class:`TargetTokenizer` protocol.

    Args:
        tokenizer: the LM's ``AutoTokenizer`` (with a pad token distinct from EOS: see
            :func:`ensure_pad`).
        vocab_size: the LM's output width ``V`` (>= ``len(tokenizer)``).
    """

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("the causal LM's tokenizer has no EOS token: it cannot end a text")
        if tokenizer.pad_token_id is None or tokenizer.pad_token_id == eos:
            raise ValueError("the tokenizer needs a pad token distinct from EOS (ensure_pad)")
        self.hf = tokenizer
        self._vocab_size = int(vocab_size)
        bos = tokenizer.bos_token_id
        self._ids = (eos if bos is None else int(bos), int(eos), int(tokenizer.pad_token_id))
        self._special = frozenset(self._ids)

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def bos_id(self) -> int:
        return self._ids[0]

    @property
    def eos_id(self) -> int:
        return self._ids[1]

    @property
    def pad_id(self) -> int:
        return self._ids[2]

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` with no special token added (no BOS even where the tokenizer adds
        one by default)."""
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids`` without BOS, EOS, pad or any other special token."""
        kept = [i for i in ids if i not in self._special]
        return str(
            self.hf.decode(kept, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        )


def ensure_pad(tokenizer: Any, lm: Any) -> bool:
    """Give ``tokenizer`` a pad token distinct from EOS if it lacks one, growing ``lm``'s
    embeddings when the new id is past its rows. Returns whether a pad token was added."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    if pad is not None and pad != eos:
        return False
    tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    rows = lm.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():  # deterministic: the mean of the existing rows
            for table in {lm.get_input_embeddings().weight, lm.get_output_embeddings().weight}:
                table[rows:] = table[:rows].mean(dim=0)
    return True
