"""Perturbations of the image inputs of a request: robustness and the blind baseline.

Each perturbation is registered in :data:`PERTURBATIONS` and maps ``(request, severity, seed)``
to a new request; only the sample's own turn (the last message) changes, few-shot examples stay.

- ``drop_image``: every image part removed, the text kept: the model answers blind. Compared
  with the unperturbed run by :func:`polymodal.tasks.compare_results` (same task, same samples),
  the paired difference is the image's contribution, with its interval and p-value;
- ``noise_image``: Gaussian noise of standard deviation ``severity * 255`` added to every pixel
  (clipped to [0, 255]), seeded per sample (``seed`` and the sample id), re-encoded as PNG;
- ``mask_image``: a centred grey (128) rectangle covering a ``severity`` share of each side's
  length squared, i.e. of the area, re-encoded as PNG.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import numpy as np

from polymodal.adapters.base import ImageInput, Message, Request
from polymodal.errors import PolymodalError
from polymodal.registry import Registry

PERTURBATIONS: Registry[Any] = Registry("perturbation")


def _map_images(request: Request, change: Callable[[ImageInput], ImageInput | None]) -> Request:
    *head, last = request.messages
    parts = []
    for part in last.parts:
        if isinstance(part, ImageInput):
            part = change(part)
            if part is None:
                continue
        parts.append(part)
    return Request(request.id, (*head, Message(last.role, tuple(parts))))


def _png(pixels: np.ndarray, source: str) -> ImageInput:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return ImageInput(data=buffer.getvalue(), source=source)


def sample_seed(seed: int, sample_id: str) -> int:
    """A seed of its own for each sample: the same sample gets the same noise in every run."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@PERTURBATIONS.register("drop_image")
def drop_image(request: Request, severity: float, seed: int) -> Request:
    """Every image of the sample removed (the blind baseline)."""
    return _map_images(request, lambda image: None)


@PERTURBATIONS.register("noise_image")
def noise_image(request: Request, severity: float, seed: int) -> Request:
    """Gaussian pixel noise, std ``severity * 255``, seeded per sample."""
    rng = np.random.default_rng(sample_seed(seed, request.id))

    def change(image: ImageInput) -> ImageInput:
        pixels = np.asarray(image.to_pil(), dtype=np.float64)
        noisy = pixels + rng.normal(0.0, severity * 255.0, size=pixels.shape)
        return _png(np.clip(np.rint(noisy), 0, 255), image.source)

    return _map_images(request, change)


@PERTURBATIONS.register("mask_image")
def mask_image(request: Request, severity: float, seed: int) -> Request:
    """A centred grey rectangle over a ``severity`` share of the area."""

    def change(image: ImageInput) -> ImageInput:
        pixels = np.array(image.to_pil(), dtype=np.uint8)
        h, w = pixels.shape[:2]
        side = float(np.sqrt(severity))
        mh, mw = round(h * side), round(w * side)
        top, left = (h - mh) // 2, (w - mw) // 2
        pixels[top : top + mh, left : left + mw] = 128
        return _png(pixels, image.source)

    return _map_images(request, change)


def perturb(request: Request, name: str | None, severity: float, seed: int) -> Request:
    """``request`` under perturbation ``name`` (None: unchanged)."""
    if name is None:
        return request
    if not 0.0 <= severity <= 1.0:
        raise PolymodalError(f"severity {severity} is outside [0, 1]", where="--severity")
    return PERTURBATIONS.get(name)(request, severity, seed)
