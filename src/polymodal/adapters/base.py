"""The one interface every model under test implements, and the registry of adapters.

A model under test receives :class:`Request` objects (a chat: messages whose parts are text or
images) and answers through up to two capabilities:

- ``generate``: :meth:`Adapter.generate` writes one text per request (batched by the caller;
  a failure is a :class:`Generation` with ``error`` set, never an exception that loses the batch);
- ``score``: :meth:`Adapter.score` gives one number per candidate continuation of a request,
  higher meaning more likely (a language model: the summed log-likelihood of the candidate's
  tokens; a dual encoder: the image-text similarity). Multiple choice, P("yes") and ranking of
  candidates are built on it.

Adapters are registered in :data:`ADAPTERS` and built from a model spec ``KIND:TARGET``
(``hf:models/tiny-vlm``, ``clip:models/tiny-clip``, ``openai:http://127.0.0.1:8000/v1``) by
:func:`create_adapter`; a plain folder is recognised by its files (:func:`resolve_spec`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from polymodal.errors import PolymodalError
from polymodal.registry import Registry

CAPABILITIES = ("generate", "score")


class AdapterError(PolymodalError):
    """A model under test cannot be built or cannot take a request (names the sample)."""


@dataclass(frozen=True)
class ImageInput:
    """An image part of a message: a file path or encoded bytes (PNG / JPEG).

    ``source`` names it in messages (the file path, or the sample id for decoded bytes).
    """

    path: str | None = None
    data: bytes | None = None
    source: str = ""

    def read_bytes(self) -> bytes:
        """The encoded image bytes."""
        if self.data is not None:
            return self.data
        if self.path is None:
            raise AdapterError("an image part holds neither a path nor bytes")
        return Path(self.path).read_bytes()

    def mime_type(self) -> str:
        """``image/png``, ``image/jpeg``, ... from the path's suffix or the bytes' signature."""
        if self.path is not None:
            guessed = mimetypes.guess_type(self.path)[0]
            if guessed:
                return guessed
        head = self.read_bytes()[:4]
        return "image/png" if head.startswith(b"\x89PNG") else "image/jpeg"

    def data_url(self) -> str:
        """The image as a ``data:`` URL (base64), as OpenAI-compatible endpoints take it."""
        encoded = base64.b64encode(self.read_bytes()).decode("ascii")
        return f"data:{self.mime_type()};base64,{encoded}"

    def to_pil(self) -> Any:
        """The decoded RGB ``PIL.Image``; an undecodable image raises an error naming it."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(self.read_bytes())) as image:
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise AdapterError(
                f"cannot decode the image ({exc})", where=self.source or self.path or "image"
            ) from None

    @classmethod
    def from_data_url(cls, url: str, source: str = "") -> ImageInput:
        """The image of a ``data:<mime>;base64,<payload>`` URL."""
        header, sep, payload = url.partition(",")
        if not sep or not header.startswith("data:") or not header.endswith(";base64"):
            raise AdapterError("an image URL is not a base64 data URL", where=source or "image")
        try:
            return cls(data=base64.b64decode(payload, validate=True), source=source)
        except ValueError:
            raise AdapterError("an image data URL is not valid base64", where=source) from None


Part = str | ImageInput
"""A part of a message's content: text, or an image."""


@dataclass(frozen=True)
class Message:
    """One chat turn: ``role`` (system, user, assistant) and its parts in order."""

    role: str
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """The text parts joined (images left out)."""
        return "".join(p for p in self.parts if isinstance(p, str))

    @property
    def images(self) -> list[ImageInput]:
        return [p for p in self.parts if isinstance(p, ImageInput)]


@dataclass(frozen=True)
class Request:
    """What a model under test is asked about one sample: ``id`` and the chat ``messages``."""

    id: str
    messages: tuple[Message, ...]

    @property
    def images(self) -> list[ImageInput]:
        """Every image of the chat, in order."""
        return [image for m in self.messages for image in m.images]

    def transcript(self, image_marker: str = "<image>") -> str:
        """The chat as one readable text (images as ``image_marker``), for predictions tables."""
        lines = []
        for message in self.messages:
            body = "".join(p if isinstance(p, str) else image_marker for p in message.parts)
            lines.append(f"{message.role}: {body}")
        return "\n".join(lines)


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings passed to every generating adapter.

    ``temperature`` 0 means greedy decoding; ``seed`` makes sampling repeatable where the model
    supports it; ``stop`` strings end the text (not included).
    """

    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    """One request's answer: ``text``, or ``error`` (after retries) with ``text`` empty.

    ``attempts`` counts the calls made (0: from the cache); ``cached`` says it was reused.
    """

    text: str = ""
    error: str | None = None
    attempts: int = 1
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None


@runtime_checkable
class Adapter(Protocol):
    """A model under test. ``capabilities`` is a subset of :data:`CAPABILITIES`."""

    capabilities: frozenset[str]

    def describe(self) -> dict[str, Any]:
        """What identifies the model (kind, path or URL, model name, settings): recorded with
        every result."""
        ...

    def generate(
        self, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Generation]:
        """One :class:`Generation` per request, in order."""
        ...

    def score(self, request: Request, candidates: Sequence[str]) -> np.ndarray:
        """float64 ``[C]``: how likely each candidate continuation is (higher: more)."""
        ...


def apply_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut before the first occurrence of any stop string."""
    cut = len(text)
    for s in stop:
        if s and s in text:
            cut = min(cut, text.index(s))
    return text[:cut]


def folder_fingerprint(folder: str | Path) -> str:
    """sha256 over the names, sizes and modification times of a model folder's files (cheap;
    recorded with results so a changed model is visible)."""
    digest = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


ADAPTERS: Registry[Any] = Registry("model adapter", ("polymodal.adapters",))
"""Adapters by kind (``hf``, ``clip``, ``openai``); each factory takes ``target`` plus options."""


def resolve_spec(spec: str) -> tuple[str, str]:
    """``(kind, target)`` of a model spec ``KIND:TARGET``, or of a bare folder.

    A bare folder holding ``config.json`` is a Hugging Face model: ``clip`` when its
    ``model_type`` is ``clip``, else ``hf``. A polymodal run directory (``config.yaml``) is kind
    ``run`` (:mod:`polymodal.adapters.run`; generating runs only).
    """
    kind, sep, target = spec.partition(":")
    if sep and kind in ADAPTERS.names() and not Path(spec).exists():
        return kind, target
    folder = Path(spec)
    if (folder / "config.json").is_file():
        import json

        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
        return ("clip" if model_type == "clip" else "hf"), spec
    if (folder / "config.yaml").is_file():
        return "run", spec
    raise AdapterError(
        f"cannot tell what model {spec!r} is",
        fix=f"write KIND:TARGET with KIND one of {', '.join(ADAPTERS.names())}, or give a "
        "Hugging Face model folder",
    )


def create_adapter(spec: str, **options: Any) -> Adapter:
    """The adapter of model spec ``spec`` (see :func:`resolve_spec`), built with ``options``."""
    kind, target = resolve_spec(spec)
    factory = ADAPTERS.get(kind)
    try:
        return factory(target, **options)
    except TypeError as exc:
        raise AdapterError(f"model {spec!r}: {exc}", fix="check the --option names") from None


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``["concurrency=4", "model=x"]`` -> ``{"concurrency": 4, "model": "x"}`` (YAML values)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AdapterError(f"option {item!r} is not KEY=VALUE", fix="e.g. concurrency=4")
        out[key] = yaml.safe_load(value) if value else ""
    return out
