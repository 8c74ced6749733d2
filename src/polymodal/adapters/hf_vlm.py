"""Hugging Face vision-language models as models under test.

``hf:FOLDER_OR_ID`` loads ``AutoProcessor`` and ``AutoModelForImageTextToText`` (LLaVA, Idefics,
Qwen-VL, SmolVLM, ... any model the class maps). The chat is rendered by the processor's chat
template (images as ``{"type": "image"}`` entries, in place), then

- :meth:`HFVisionLanguageAdapter.generate` decodes a batch at once (left padding, the model's
  ``generate``; greedy for temperature 0, else sampling seeded with ``settings.seed``);
- :meth:`HFVisionLanguageAdapter.score` returns, per candidate, the summed log-probability of the
  candidate's tokens after the prompt (teacher forcing; one forward pass over all candidates).

A request the processor cannot take (an undecodable image, a text-only model given an image)
raises an :class:`~polymodal.adapters.base.AdapterError` naming the sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from polymodal.adapters.base import (
    ADAPTERS,
    AdapterError,
    Generation,
    GenerationSettings,
    Request,
    apply_stop,
    folder_fingerprint,
)


def chat_template_messages(request: Request) -> list[dict[str, Any]]:
    """The request as the ``messages`` of a processor's chat template (typed content parts)."""
    return [
        {
            "role": m.role,
            "content": [
                {"type": "text", "text": p} if isinstance(p, str) else {"type": "image"}
                for p in m.parts
            ],
        }
        for m in request.messages
    ]


class HFVisionLanguageAdapter:
    """A Hugging Face image-text-to-text model with its processor (see the module docstring).

    Args:
        target: a local folder or a hub id (already in the local cache: nothing is downloaded).
        device: ``cpu``, ``cuda``, ... (default: cuda when available).
        dtype: torch dtype name of the weights (default: as saved).
    """

    capabilities = frozenset({"generate", "score"})

    def __init__(self, target: str, device: str | None = None, dtype: str | None = None) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.target = target
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs: dict[str, Any] = {"local_files_only": True}
        if dtype:
            kwargs["dtype"] = getattr(torch, dtype)
        try:
            self.processor = AutoProcessor.from_pretrained(target, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(target, **kwargs)
        except (OSError, ValueError) as exc:
            raise AdapterError(
                f"cannot load a vision-language model ({exc})",
                where=target,
                fix="give a folder saved by save_pretrained with its processor",
            ) from None
        self.model.to(self.device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"

    def describe(self) -> dict[str, Any]:
        from pathlib import Path

        out = {"kind": "hf", "target": self.target, "class": type(self.model).__name__}
        if Path(self.target).is_dir():
            out["fingerprint"] = folder_fingerprint(self.target)
        return out

    def _prompt(self, request: Request) -> str:
        return self.processor.apply_chat_template(
            chat_template_messages(request), add_generation_prompt=True, tokenize=False
        )

    def _inputs(self, texts: list[str], images: list[list[Any]]) -> Any:
        flat = [image for group in images for image in group]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if flat:
            kwargs["images"] = flat
        try:
            return self.processor(**kwargs).to(self.device)
        except (ValueError, TypeError) as exc:
            raise AdapterError(f"the processor cannot take this input ({exc})") from None

    def _batch_inputs(
        self, requests: Sequence[Request], texts: list[str], images: list[list[Any]]
    ) -> Any:
        """The processor's batch; when it refuses the batch, the error names the first sample
        it refuses alone."""
        try:
            return self._inputs(texts, images)
        except AdapterError as batch_error:
            for request, text, group in zip(requests, texts, images, strict=True):
                try:
                    self._inputs([text], [group])
                except AdapterError as exc:
                    raise AdapterError(exc.what, where=f"sample {request.id}") from None
            raise batch_error from None

    def _decoded_images(self, request: Request) -> list[Any]:
        try:
            return [image.to_pil() for image in request.images]
        except AdapterError as exc:
            raise AdapterError(exc.what, where=f"sample {request.id}") from None

    def generate(
        self, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Generation]:
        """Texts of a batch of requests (one padded batch, decoded at once)."""
        import torch

        if not requests:
            return []
        texts = [self._prompt(r) for r in requests]
        inputs = self._batch_inputs(requests, texts, [self._decoded_images(r) for r in requests])
        sample = settings.temperature > 0
        options: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens, "do_sample": sample}
        if sample:
            options.update(temperature=settings.temperature, top_p=settings.top_p)
            torch.manual_seed(settings.seed)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        with torch.no_grad():
            out = self.model.generate(**inputs, **options, pad_token_id=pad)
        new = out[:, inputs["input_ids"].shape[1] :]  # (B, new tokens)
        decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [Generation(apply_stop(text, settings.stop)) for text in decoded]

    def score(self, request: Request, candidates: Sequence[str]) -> np.ndarray:
        """Summed log-probability of each candidate's tokens after the prompt, float64 ``[C]``."""
        prompt = self._prompt(request)
        images = self._decoded_images(request)
        prompt_len = len(self._batch_inputs([request], [prompt], [images])["input_ids"][0])
        texts = [prompt + c for c in candidates]
        self.tokenizer.padding_side = "right"
        try:
            inputs = self._inputs(texts, [images] * len(candidates))
        finally:
            self.tokenizer.padding_side = "left"
        return continuation_logprobs(self.model, inputs, prompt_len)


def continuation_logprobs(model: Any, inputs: Any, prompt_len: int) -> np.ndarray:
    """float64 ``[C]``: summed log-probabilities of the tokens after the first ``prompt_len`` of
    each right-padded row of ``inputs`` (``input_ids``, ``attention_mask``: ``[C, T]``)."""
    import torch

    with torch.no_grad():
        logits = model(**inputs).logits.float()  # (C, T, V)
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    ids = inputs["input_ids"][:, 1:]  # (C, T - 1): token t + 1 predicted at position t
    token_logp = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    mask = inputs["attention_mask"][:, 1:].clone()
    mask[:, : prompt_len - 1] = 0  # only the candidate's tokens count
    return (token_logp * mask).sum(dim=1).double().cpu().numpy()


@ADAPTERS.register("hf")
def hf_adapter(target: str, **options: Any) -> HFVisionLanguageAdapter:
    """A Hugging Face vision-language model (AutoProcessor + AutoModelForImageTextToText)."""
    return HFVisionLanguageAdapter(target, **options)
