"""When a sample stops (stop token ids, stop strings) and what it returns then."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from polymodal.decoders.options import DecodingOptions, FinishReason

Detokenize = Callable[[list[int]], str]
"""Token ids -> text (e.g. a tokenizer's ``decode``)."""


class Stopping:
    """Stop conditions of one decoding run.

    Args:
        options: the run's options (``stop_ids``, ``stop_strings``).
        detokenize: turns token ids into text; required with stop strings.
    """

    def __init__(self, options: DecodingOptions, detokenize: Detokenize | None) -> None:
        if options.stop_strings and detokenize is None:
            raise ValueError("stop_strings need a detokenize callback (token ids -> text)")
        self.stop_ids = frozenset(options.stop_ids)
        self.stop_strings = options.stop_strings
        self.detokenize = detokenize

    def reason(self, tokens: Sequence[int]) -> FinishReason | None:
        """Why ``tokens`` (generated so far, the newest last) end here, or None to go on."""
        if tokens and tokens[-1] in self.stop_ids:
            return "stop_id"
        if self.stop_strings and self.detokenize is not None:
            text = self.detokenize(list(tokens))
            if any(s in text for s in self.stop_strings):
                return "stop_string"
        return None

    def output(self, tokens: Sequence[int], reason: FinishReason) -> tuple[list[int], str | None]:
        """The tokens returned (stop token dropped) and the text cut before the first stop
        string (None without ``detokenize``)."""
        kept = list(tokens[:-1] if reason == "stop_id" else tokens)
        if self.detokenize is None:
            return kept, None
        text = self.detokenize(kept)
        cuts = [text.find(s) for s in self.stop_strings if s in text]
        return kept, text[: min(cuts)] if cuts else text
