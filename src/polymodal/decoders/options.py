"""Decoding options and the decoded output, shared by every strategy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import pydantic

from polymodal.registry import NonNegative, Positive


class DecodingOptions(pydantic.BaseModel):
    """How to decode (validated; unknown keys are an error).

    Args:
        strategy: ``greedy`` (argmax each step), ``beam`` (beam search) or ``sample``.
        max_new_tokens: most tokens generated per sample (a stop token counts).
        bos_id: the token fed first.
        pad_id: fed to rows that have finished while others go on (never returned).
        stop_ids: tokens that end a sample; not returned.
        stop_strings: strings that end a sample as soon as the detokenized text contains one;
            the text is cut before the first occurrence (needs a ``detokenize`` callback).
        beam_width: beams per sample (``beam``).
        length_penalty: beam scores are ``sum log p / lp(n)`` with ``n`` the generated tokens
            (a stop token counts): ``none`` ``lp = 1``; ``gnmt`` ``lp = ((5 + n) / 6) ** alpha``
            (Wu et al. 2016, GNMT); ``normalised`` ``lp = n ** alpha`` (Hugging Face's
            convention; ``alpha = 1`` is the mean log-probability per token).
        alpha: the length penalty's exponent (0: no penalty whichever convention).
        temperature: ``sample``: logits divided by it before top-p.
        top_p: ``sample``: nucleus sampling (Holtzman et al. 2020), draw from the smallest set of
            most probable tokens whose probability reaches ``top_p`` (1: every token).
        seed: ``sample``: seed of the ``torch.Generator`` that draws; the same seed, batch and
            model give the same tokens.
        use_cache: decode with the decoder's KV cache (False: recompute the prefix each step).
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["greedy", "beam", "sample"] = "greedy"
    max_new_tokens: Positive = 64
    bos_id: NonNegative = 1
    pad_id: NonNegative = 0
    stop_ids: tuple[NonNegative, ...] = ()
    stop_strings: tuple[Annotated[str, pydantic.Field(min_length=1)], ...] = ()
    beam_width: Positive = 4
    length_penalty: Literal["none", "gnmt", "normalised"] = "gnmt"
    alpha: Annotated[float, pydantic.Field(ge=0.0)] = 0.6
    temperature: Annotated[float, pydantic.Field(gt=0.0)] = 1.0
    top_p: Annotated[float, pydantic.Field(gt=0.0, le=1.0)] = 1.0
    seed: int = 0
    use_cache: bool = True


FinishReason = Literal["stop_id", "stop_string", "length"]


@dataclass(frozen=True)
class Generated:
    """Decoded output, one entry per sample in batch order.

    Attributes:
        tokens: generated token ids (the stop token excluded; with a stop string, every token up
            to the one that completed it).
        scores: greedy and sampling: the sum of the model's log-probabilities (temperature 1, no
            top-p) of the generated tokens, stop token included; beam: the length-penalised score.
        finish: why each sample ended: ``stop_id``, ``stop_string`` or ``length``.
        texts: detokenized outputs cut at the first stop string; None without ``detokenize``.
    """

    tokens: list[list[int]]
    scores: list[float]
    finish: list[FinishReason]
    texts: list[str] | None
