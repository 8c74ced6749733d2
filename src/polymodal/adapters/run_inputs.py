"""How a chat request becomes the input sample of a polymodal generating run.

A run reads named modalities (its encoders, in model order), each preprocessed as in training.
A chat request has text parts and images. The mapping, per request:

- **text**: the run has at most one text modality; it gets the text parts of every ``user``
  message, joined by ``"\\n"``, tokenised by the run's own tokenizer of that modality (rebuilt
  from the run's saved data state, cut to its ``max_length``: the same ids as in training).
  ``system`` messages are left out (a run takes no instructions); an ``assistant`` turn (a
  chat history, few-shot answers) is refused. No user text: the modality is absent
  (``present`` False), as a missing modality in training.
- **image**: the ``k``-th image of the chat goes to the run's ``k``-th image modality,
  decoded with Pillow and preprocessed by the modality's recorded transform (resize and
  normalisation, or its pretrained preset / processor). Fewer images than image modalities:
  the rest are absent (the ``drop_image`` perturbation works); more images: refused.
- Text in a request to a run with no text modality is refused; so is any image to a run with
  no image modality. A run reading another kind (audio, video, tabular) cannot be served.

Every refusal is an :class:`~polymodal.adapters.base.AdapterError` naming the sample.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from polymodal.adapters.base import AdapterError, ImageInput, Request
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.data.transforms.text import tokenizer_from_state

SERVABLE_KINDS = ("text", "image")


def request_text(request: Request) -> str:
    """The text the run reads: every ``user`` message's text, joined by ``"\\n"``."""
    if any(m.role == "assistant" for m in request.messages):
        raise AdapterError(
            "a polymodal run takes one input, not a chat history with assistant turns",
            where=f"sample {request.id}",
            fix="send the question alone (no few-shot examples)",
        )
    return "\n".join(m.text for m in request.messages if m.role == "user" and m.text)


def _text_encoder(spec: ModalitySpec, state: Mapping[str, Any]) -> Callable[[str], Tensor]:
    saved = (state.get("tokenizers") or {}).get(spec.name)
    if not isinstance(saved, dict):
        raise AdapterError(
            f"the run's data state has no tokenizer for text modality {spec.name!r}",
            fix="serve a run whose dataset saves its tokenizers (manifest, translation)",
        )
    tokenizer = tokenizer_from_state(saved)
    max_length = int(spec.meta.get("max_length", 32))
    return lambda text: tokenizer.encode(text, max_length)


def _image_transform(spec: ModalitySpec) -> Callable[[Tensor], Tensor]:
    meta = spec.meta
    if meta.get("preset") is not None or meta.get("processor") is not None:
        from polymodal.data.transforms.pretrained import PretrainedImageTransform, image_preset

        if meta.get("preset") is not None:
            return image_preset(meta["preset"])
        return PretrainedImageTransform.from_pretrained(meta["processor"])
    from polymodal.data.transforms.image import ImageTransform

    size = tuple(spec.shape[1:]) if len(spec.shape) == 3 else None
    return ImageTransform(size, meta.get("mean"), meta.get("std"))  # type: ignore[arg-type]


def _image_encoder(spec: ModalitySpec) -> Callable[[ImageInput], Tensor]:
    from polymodal.data.loaders.image import load_image
    from polymodal.errors import DataError

    transform, channels = _image_transform(spec), int(spec.meta.get("channels", 3))

    def encode(image: ImageInput) -> Tensor:
        try:
            if image.path is not None:
                return transform(load_image(image.path, channels))  # type: ignore[arg-type]
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "image"
                path.write_bytes(image.read_bytes())
                return transform(load_image(path, channels))  # type: ignore[arg-type]
        except DataError as exc:
            raise AdapterError(f"cannot read the image ({exc.what})") from None

    return encode


class RunInputs:
    """Turns requests into samples of a run's modalities (the mapping of the module docs).

    Args:
        specs: the run's modalities, in model order.
        state: the run's data state (``DataBundle.state``), holding its text tokenizers.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], state: Mapping[str, Any]) -> None:
        other = [f"{m} ({s.kind})" for m, s in specs.items() if s.kind not in SERVABLE_KINDS]
        if other:
            raise AdapterError(
                f"the run reads {', '.join(other)}, which a chat request cannot carry",
                fix="serve a run whose modalities are text and images",
            )
        texts = [m for m, s in specs.items() if s.kind == "text"]
        if len(texts) > 1:
            raise AdapterError(
                f"the run reads several text modalities ({', '.join(texts)}): which one gets "
                "the user's text is ambiguous",
                fix="serve a run with one text modality",
            )
        self.specs = dict(specs)
        self.text = texts[0] if texts else None
        self.images = [m for m, s in specs.items() if s.kind == "image"]
        self._encode_text = _text_encoder(specs[self.text], state) if self.text else None
        self._encode_image = {m: _image_encoder(specs[m]) for m in self.images}

    def sample(self, request: Request) -> Sample:
        """The request's sample (id: the request's id); refusals name the sample."""
        where = f"sample {request.id}"
        inputs: dict[str, Tensor | None] = {m: None for m in self.specs}
        text, images = request_text(request), request.images
        if text and self._encode_text is None:
            raise AdapterError("the run reads no text, but the request holds some", where=where)
        if len(images) > len(self.images):
            raise AdapterError(
                f"the request holds {len(images)} images; the run reads {len(self.images)} "
                f"image modalities",
                where=where,
                fix="send at most one image per image modality of the run",
            )
        if text and self.text is not None and self._encode_text is not None:
            inputs[self.text] = self._encode_text(text)
        for modality, image in zip(self.images, images, strict=False):
            try:
                inputs[modality] = self._encode_image[modality](image)
            except AdapterError as exc:
                raise AdapterError(exc.what, where=where) from None
        return Sample(request.id, inputs)
