"""A tiny Llama causal LM and word-level tokenizer, built and saved locally (no Hub access).

``save_tiny_lm(folder)`` writes ``config.json``, ``model.safetensors`` and the tokenizer files
that ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained(folder)`` read. The tokenizer
knows :data:`WORDS` (ids in that order), split on whitespace; it has BOS and EOS tokens and no
pad token unless ``pad=True`` (``causal_lm`` then adds one: 11 ids).
"""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ["<s>", "</s>", "<unk>", "the", "cat", "sat", "on", "mat", "a", "dog"]
WIDTH, BLOCKS = 16, 3


def save_tiny_lm(folder: Path, *, pad: bool = False, seed: int = 0, extra: int = 0) -> Path:
    """Save a seeded 3-block Llama (width 16, GQA 4 query / 2 key-value heads, tied embeddings)
    and its tokenizer into ``folder``; returns ``folder``. ``extra`` more words ``w0``, ``w1``,
    ... follow :data:`WORDS` (before ``<pad>``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = [*WORDS, *(f"w{i}" for i in range(extra))]
    words = [*words, "<pad>"] if pad else words
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, **special, **({"pad_token": "<pad>"} if pad else {})
    )
    config = LlamaConfig(
        vocab_size=len(words), hidden_size=WIDTH, intermediate_size=32,
        num_hidden_layers=BLOCKS, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, tie_word_embeddings=True,
        bos_token_id=0, eos_token_id=1, pad_token_id=len(words) - 1 if pad else None,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # wider than the default init (0.02): varied texts that stop
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
