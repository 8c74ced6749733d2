"""The options of one manifest modality (:class:`ManifestModality`) and their validation."""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polymodal.data.transforms.text_options import TextOptions
from polymodal.errors import ConfigError

_KIND_OPTIONS: dict[str, frozenset[str]] = {
    "text": frozenset(
        {"column", "text_is_path", "tokenizer", "tokenizer_path", "max_length", "min_freq"}
        | {"max_vocab_size", "lowercase", "derive", "from_video"}
    ),
    "image": frozenset({"column", "size", "channels", "mean", "std", "processor", "preset"}),
    "audio": frozenset(
        {"column", "sample_rate", "n_mels", "n_fft", "hop_length", "max_seconds", "from_video"}
        | {"processor"}
    ),
    "video": frozenset(
        {"column", "num_frames", "fps", "sampling", "folder_fps", "size", "channels", "mean"}
        | {"std", "processor", "preset"}
    ),
    "tabular": frozenset({"columns"}),
}
# options a checkpoint's own preprocessing decides, refused next to processor / preset
_PRETRAINED_FIXES: dict[str, frozenset[str]] = {
    "image": frozenset({"size", "channels", "mean", "std"}),
    "video": frozenset({"size", "channels", "mean", "std"}),
    "audio": frozenset({"sample_rate", "n_mels", "n_fft", "hop_length"}),
}
# suffixes of files whose audio an audio modality reads from the video's track
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv"}
    | {".ts", ".mts", ".3gp"}
)


class ManifestModality(BaseModel):
    """One modality of a manifest: its kind, its column(s) and its preprocessing options.

    Options apply to one kind each; giving another kind's option is an error.

    Attributes:
        kind: ``text``, ``image``, ``audio``, ``video`` or ``tabular``.
        column: the cell holding the value or path (default: the modality's name).
        columns: tabular only: the numeric columns, in feature order (``F = len(columns)``).
        text_is_path: text: the cell is the path of a UTF-8 file rather than the text itself.
        tokenizer: text: ``word`` / ``char`` (vocabulary learnt on the training split) or ``hf``.
        tokenizer_path: text, ``hf``: a tokenizer folder, a Hub id or ``package:NAME/sub``.
        max_length: text: ids kept per sample (``T <= max_length``).
        min_freq, max_vocab_size: text, word/char: keep tokens seen ``min_freq`` times in
            training text, at most ``max_vocab_size`` ids including ``<pad>`` and ``<unk>``.
        lowercase: text, word/char: lower-case first (default: word yes, char no).
        size: image, video: ``[H, W]`` after bilinear resizing (an int ``n`` means ``[n, n]``).
        channels: image, video: 1 (grey) or 3 (RGB).
        mean, std: image, video: per-channel normalisation after resizing (none by default:
            values stay in [0, 1]).
        processor: image, video, audio: a checkpoint (folder, Hub id or ``package:NAME/sub``)
            whose ``preprocessor_config.json`` gives the preprocessing (see the module docs).
        preset: image, video: a named checkpoint preprocessing, ``efficientnet_lite`` or
            ``imagenet`` (:func:`~polymodal.data.transforms.pretrained.image_preset`).
        num_frames: video: ``uniform``: frames kept per clip (None: all); ``rate``: the most kept.
        fps: video, ``rate`` only: frames kept per second.
        sampling: video: ``uniform`` or ``rate`` (:mod:`polymodal.data.transforms.video`).
        folder_fps: video: frame rate of clips given as folders of frames (needed by ``rate``).
        from_video: audio (and derived text): read every cell from a video file's audio track
            (True), read every cell as a sound file (False), or decide by the file's suffix
            (None, the default).
        derive: text: compute the text from the audio of the file the cell names, with a
            registered deriver: ``{name: asr, model: ..., ...}`` (the other keys are the
            deriver's parameters; see :mod:`polymodal.data.derive`).
        sample_rate: audio: Hz the waveform is resampled to.
        n_mels: audio: mel bins M of the log-mel features ``[T, M]``.
        n_fft, hop_length: audio: STFT window and hop in samples (default 25 ms and 10 ms).
        max_seconds: audio: keep only the first ``max_seconds`` of each recording.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["text", "image", "audio", "video", "tabular"]
    column: str | None = None
    columns: list[str] | None = None
    text_is_path: bool = False
    tokenizer: Literal["word", "char", "hf"] = "word"
    tokenizer_path: str | None = None
    max_length: int = Field(128, ge=1)
    min_freq: int = Field(1, ge=1)
    max_vocab_size: int | None = Field(None, ge=2)
    lowercase: bool | None = None
    size: tuple[int, int] = (224, 224)
    channels: Literal[1, 3] = 3
    mean: list[float] | None = None
    std: list[float] | None = None
    sample_rate: int = Field(16000, gt=0)
    n_mels: int = Field(64, ge=1)
    n_fft: int | None = Field(None, ge=2)
    hop_length: int | None = Field(None, ge=1)
    max_seconds: float | None = Field(None, gt=0)
    from_video: bool | None = None
    derive: dict[str, Any] | None = None
    processor: str | None = Field(None, min_length=1)
    preset: Literal["efficientnet_lite", "imagenet"] | None = None
    num_frames: int | None = Field(None, ge=1)
    fps: float | None = Field(None, gt=0)
    sampling: Literal["uniform", "rate"] = "uniform"
    folder_fps: float | None = Field(None, gt=0)

    @field_validator("size", mode="before")
    @classmethod
    def _square(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int) else value

    @field_validator("size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 1:
            raise ValueError(f"image size must be positive, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _options_match_kind(self) -> ManifestModality:
        foreign = sorted(self.model_fields_set - _KIND_OPTIONS[self.kind] - {"kind"})
        if foreign:
            raise ValueError(
                f"option(s) {', '.join(foreign)} do not apply to {self.kind} modalities "
                f"(its options: {', '.join(sorted(_KIND_OPTIONS[self.kind]))})"
            )
        if self.kind == "text" and self.derive is None and "from_video" in self.model_fields_set:
            raise ValueError("from_video applies to text only with derive: (audio to text)")
        if self.derive is not None and self.text_is_path:
            raise ValueError("derive: reads the cell as a sound or video file: drop text_is_path")
        if self.derive is not None and not isinstance(self.derive.get("name"), str):
            raise ValueError("derive: needs name: <deriver> (e.g. derive: {name: asr})")
        if self.kind == "tabular" and not self.columns:
            raise ValueError("a tabular modality needs columns: [name, ...] (at least one)")
        self._check_pretrained()
        if self.kind == "video" and self.sampling == "rate" and self.fps is None:
            raise ValueError("sampling: rate needs fps (frames kept per second)")
        if self.kind == "video" and self.sampling == "uniform" and self.fps is not None:
            raise ValueError("fps applies to sampling: rate; uniform sampling uses num_frames")
        if self.kind == "text" and self.tokenizer == "hf" and not self.tokenizer_path:
            raise ValueError("tokenizer: hf needs tokenizer_path (a tokenizer folder or hub id)")
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std, or neither")
        for stat in (self.mean, self.std):
            if stat is not None and len(stat) != self.channels:
                raise ValueError(f"mean and std need {self.channels} values (one per channel)")
        if self.std is not None and min(self.std) <= 0:
            raise ValueError("std values must be > 0")
        return self

    def text_options(self) -> TextOptions:
        """A text modality's tokenisation options (``tokenizer_path`` kept for ``hf`` only)."""
        return TextOptions(
            tokenizer=self.tokenizer,
            tokenizer_path=self.tokenizer_path if self.tokenizer == "hf" else None,
            max_length=self.max_length,
            min_freq=self.min_freq,
            max_vocab_size=self.max_vocab_size,
            lowercase=self.lowercase,
        )

    def _check_pretrained(self) -> None:
        """``processor`` / ``preset`` exclude each other and the options they decide."""
        if self.processor is not None and self.preset is not None:
            raise ValueError("give processor or preset, not both")
        if self.processor is None and self.preset is None:
            return
        decided = sorted(self.model_fields_set & _PRETRAINED_FIXES.get(self.kind, frozenset()))
        if decided:
            raise ValueError(
                f"option(s) {', '.join(decided)} are set by the checkpoint's preprocessing "
                f"({'processor' if self.processor is not None else 'preset'}); drop them"
            )


_MODALITIES_ADAPTER = pydantic.TypeAdapter(dict[str, ManifestModality])


def validate_modalities(modalities: Any) -> dict[str, ManifestModality]:
    """Modality options from a config mapping (or ready models), as a :class:`ConfigError`."""
    try:
        out = _MODALITIES_ADAPTER.validate_python(modalities)
    except pydantic.ValidationError as exc:
        problems = [
            f"modalities.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ConfigError(problems, source="manifest dataset parameters") from None
    if not out:
        raise ConfigError(["modalities: give at least one modality"], source="manifest")
    return out
