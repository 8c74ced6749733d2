"""CLIP-style dual encoders as models under test: zero-shot classification and retrieval.

``clip:FOLDER`` loads a Hugging Face dual encoder (``AutoModel`` with ``get_image_features`` and
``get_text_features``, e.g. ``CLIPModel``), its tokenizer and image processor. It cannot write text;
:meth:`DualEncoderAdapter.score` gives the cosine similarity, times the model's logit scale when
it has one, between the request's image and each candidate text (the candidates are the task's
choices or gallery, already filled into the task's template such as ``a photo of a {choice}``).
Text embeddings of a candidate list are kept (keyed by the list), so ranking N images against the
same gallery encodes the gallery once.
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
    folder_fingerprint,
)

TEXT_BATCH = 256


def _features(output: Any) -> Any:
    """The embedding tensor of a ``get_*_features`` result (a tensor, or an output object)."""
    if hasattr(output, "pooler_output") and output.pooler_output is not None:
        return output.pooler_output
    return output


class DualEncoderAdapter:
    """An image-text dual encoder (see the module docstring).

    Args:
        target: a local folder saved with ``save_pretrained`` (model, tokenizer, image processor).
        device: ``cpu``, ``cuda``, ... (default: cuda when available).
    """

    capabilities = frozenset({"score"})

    def __init__(self, target: str, device: str | None = None) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        self.target = target
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.model = AutoModel.from_pretrained(target, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=True)
            self.image_processor = AutoImageProcessor.from_pretrained(target, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise AdapterError(f"cannot load a dual encoder ({exc})", where=target) from None
        self.model.to(self.device).eval()
        scale = getattr(self.model, "logit_scale", None)
        self.scale = float(scale.detach().exp()) if scale is not None else 1.0
        self._texts: dict[tuple[str, ...], Any] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "clip",
            "target": self.target,
            "class": type(self.model).__name__,
            "fingerprint": folder_fingerprint(self.target),
        }

    def text_embeddings(self, texts: Sequence[str]) -> Any:
        """L2-normalised text embeddings ``[C, D]`` (kept for the same list of texts)."""
        import torch

        key = tuple(texts)
        if key not in self._texts:
            parts = []
            for start in range(0, len(key), TEXT_BATCH):
                batch = self.tokenizer(
                    list(key[start : start + TEXT_BATCH]),
                    padding=True,
                    truncation=True,
                    return_tensors="pt",
                ).to(self.device)
                with torch.no_grad():
                    parts.append(_features(self.model.get_text_features(**batch)))
            embeddings = torch.cat(parts)
            self._texts = {key: torch.nn.functional.normalize(embeddings, dim=-1)}  # keep one
        return self._texts[key]

    def image_embedding(self, request: Request) -> Any:
        """The L2-normalised embedding ``[D]`` of the request's single image."""
        import torch

        images = request.images
        if len(images) != 1:
            raise AdapterError(
                f"a dual encoder takes exactly one image per sample, got {len(images)}",
                where=f"sample {request.id}",
            )
        pil = images[0].to_pil()
        pixels = self.image_processor(images=[pil], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            feats = _features(self.model.get_image_features(pixel_values=pixels.to(self.device)))
        return torch.nn.functional.normalize(feats[0], dim=-1)

    def score(self, request: Request, candidates: Sequence[str]) -> np.ndarray:
        """Scaled cosine similarity of the image with each candidate text, float64 ``[C]``."""
        similarity = self.text_embeddings(candidates) @ self.image_embedding(request)
        return (self.scale * similarity).double().cpu().numpy()

    def generate(
        self, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Generation]:
        raise AdapterError(
            "a dual encoder does not write text",
            fix="use a multiple_choice or ranking task with a clip: model",
        )


@ADAPTERS.register("clip")
def clip_adapter(target: str, **options: Any) -> DualEncoderAdapter:
    """A CLIP-style dual encoder: similarity of an image with candidate texts."""
    return DualEncoderAdapter(target, **options)
