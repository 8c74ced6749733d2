"""Decoders: modules that write tokens from a memory (the fused token sequence), and decoding.

- :mod:`polymodal.decoders.base`: the :class:`Decoder` contract (teacher-forced logits, the
  incremental ``start`` / ``step`` API), :func:`shift_right`.
- :mod:`polymodal.decoders.transformer`: ``transformer_decoder`` (from zero, with a KV cache).
- :mod:`polymodal.decoders.causal_lm`: ``causal_lm`` (a pretrained Hugging Face causal LM fed
  projected memory tokens, LLaVA-style; GGUF files cached as safetensors).
- :mod:`polymodal.decoders.generate`: :func:`generate` with greedy, beam search and sampling.
"""

from polymodal.decoders.base import Decoder, DecoderState, PrefixState, shift_right
from polymodal.decoders.cache import KVCache

__all__ = ["Decoder", "DecoderState", "KVCache", "PrefixState", "shift_right"]
