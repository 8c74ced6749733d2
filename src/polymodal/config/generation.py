"""The ``generation:`` section of an experiment: target tokenizer, decoding, BLEU tokenizer.

Used with a ``generation`` task (a model with ``model.decoder``); every key has a default, so
``generation: {}`` (or leaving the section out) works. Example::

    generation:
      tokenizer: word           # target tokenizer fitted on the training references (or char)
      max_target_length: 48     # target tokens kept per reference in training (eos included)
      strategy: beam            # greedy | beam | sample
      beam_width: 4
      length_penalty: gnmt      # none | gnmt | normalised, with alpha
      alpha: 0.6
      max_new_tokens: 48
      stop: ["\\n"]
      bleu_tokenize: zh         # sacrebleu tokenizer of BLEU; null: zh for Chinese targets

The decoding keys are those of :class:`polymodal.decoders.options.DecodingOptions` (``stop`` is
its ``stop_strings``; ``bos_id``, ``pad_id`` and the stop id come from the tokenizer).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerationConfig(BaseModel):
    """Target tokenizer, decoding settings and the metrics' tokenizers of a generation run.

    Attributes:
        tokenizer: ``word`` or ``char`` (:class:`polymodal.decoders.vocab.TextVocabulary`),
            fitted on the training references; ignored by a decoder with its own vocabulary.
        min_freq, max_vocab_size, lowercase: the fitted vocabulary's options.
        max_target_length: target ids per reference in training, the end token included.
        strategy, max_new_tokens, beam_width, length_penalty, alpha, temperature, top_p, seed:
            decoding (:class:`~polymodal.decoders.options.DecodingOptions`).
        stop: stop strings; the text is cut before the first.
        bleu_tokenize: sacrebleu tokenizer of BLEU (``13a``, ``zh``, ...); None: ``zh`` when the
            references are mostly Chinese, else ``13a``.
        caption_tokenize: tokenisation before CIDEr-D and METEOR (``ptb`` or ``none``).
    """

    model_config = ConfigDict(extra="forbid")

    tokenizer: Literal["word", "char"] = "word"
    min_freq: int = Field(1, ge=1)
    max_vocab_size: int | None = Field(None, ge=5)
    lowercase: bool = False
    max_target_length: int = Field(64, ge=2)
    strategy: Literal["greedy", "beam", "sample"] = "greedy"
    max_new_tokens: int = Field(64, ge=1)
    beam_width: int = Field(4, ge=1)
    length_penalty: Literal["none", "gnmt", "normalised"] = "gnmt"
    alpha: float = Field(0.6, ge=0.0)
    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)
    bleu_tokenize: str | None = None
    caption_tokenize: Literal["ptb", "none"] = "ptb"
