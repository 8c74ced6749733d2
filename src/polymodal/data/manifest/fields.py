"""Fields: one modality's cells -> its preprocessed tensor, one class per kind.

Shapes: text int64 ``[T]``; image float32 ``[C, H, W]``; audio float32 log-mel ``[T, M]`` (or a
checkpoint's waveform ``[L]`` / features ``[T, M]``); video float32 ``[T, C, H, W]``; tabular
float32 ``[F]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from polymodal.data.loaders.image import load_image
from polymodal.data.loaders.tabular import load_tabular, parse_number
from polymodal.data.loaders.text import load_text
from polymodal.data.manifest.errors import RowError, loader_error
from polymodal.data.manifest.options import VIDEO_SUFFIXES, ManifestModality
from polymodal.data.manifest.paths import DataRoot, as_path
from polymodal.data.schema import ModalitySpec
from polymodal.data.transforms.image import ImageTransform
from polymodal.data.transforms.text import Tokenizer
from polymodal.data.transforms.text_options import fit_tokenizer, text_spec
from polymodal.data.transforms.video import VideoTransform
from polymodal.errors import DataError


class Field:
    """One modality: which cells it reads, how it decodes them, and its spec.

    ``decode`` gives the value kept between the check pass and :meth:`finish` (text: the string,
    tokenised once the vocabulary is known; other kinds: the finished tensor). ``key`` names the
    item a cell holds (see :meth:`ManifestDataset.item_keys`); cells of a field with
    ``file_backed`` True are decoded once per key in the check pass.
    """

    file_backed = True

    def __init__(self, name: str, options: ManifestModality, root: DataRoot) -> None:
        self.name = name
        self.options = options
        self.root = root
        self.column = options.column or name

    @property
    def columns(self) -> list[str]:
        return [self.column]

    def cell(self, row: dict[str, Any]) -> Any:
        """The row's value for this modality; None when the sample lacks it."""
        return row[self.column]

    def decode(self, cell: Any, where: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def key(self, cell: Any, where: str) -> str:
        """The item a (non-empty) cell holds: its file's path resolved, relative to the root.

        Raises:
            RowError: the cell is not a usable path (as :meth:`decode` would).
            DataError: the path leaves the root.
        """
        path, _ = as_path(self.root, cell, self.column, where)
        return self.root.key(path)

    def finish(self, value: Any) -> Tensor:
        return value

    def spec(self) -> ModalitySpec:  # pragma: no cover - abstract
        raise NotImplementedError


class TextField(Field):
    tokenizer: Tokenizer | None = None

    @property
    def file_backed(self) -> bool:  # type: ignore[override]
        return self.options.text_is_path

    def _inline(self, cell: Any) -> str:
        if not isinstance(cell, str):
            raise RowError(self.column, f"expected text, got {type(cell).__name__} {cell!r}")
        return cell

    def key(self, cell: Any, where: str) -> str:
        """Inline text: the text itself; ``text_is_path``: the file's path (see :class:`Field`)."""
        return super().key(cell, where) if self.options.text_is_path else self._inline(cell)

    def decode(self, cell: Any, where: str) -> str:
        if not self.options.text_is_path:
            return self._inline(cell)
        path, written = as_path(self.root, cell, self.column, where)
        try:
            return load_text(path, is_path=True)
        except DataError as exc:
            raise loader_error(self.column, exc, written) from None

    def fit(self, texts: list[str], saved: dict[str, Any] | None, where: str) -> None:
        """Learn the vocabulary from ``texts`` (training split), or rebuild it from ``saved``
        (a state's tokenizers, by modality; see :func:`fit_tokenizer`)."""
        options = self.options.text_options()
        self.tokenizer = fit_tokenizer(self.name, options, texts, saved, where=where)

    def finish(self, value: str) -> Tensor:
        assert self.tokenizer is not None, "fit() comes before finish()"
        return self.tokenizer.encode(value, self.options.max_length)  # int64 [T]

    def spec(self) -> ModalitySpec:
        assert self.tokenizer is not None, "fit() comes before spec()"
        return text_spec(self.name, self.tokenizer, self.options.text_options())


def checkpoint_image(name: str, options: ManifestModality) -> Any:
    """The checkpoint's image preprocessing of ``processor`` / ``preset`` (a
    :class:`~polymodal.data.transforms.pretrained.PretrainedImageTransform`), or None.

    Raises:
        DataError: its output size depends on the input (no crop and no fixed size), which
            images of one batch cannot have.
    """
    from polymodal.data.transforms.pretrained import PretrainedImageTransform, image_preset

    if options.preset is not None:
        transform = image_preset(options.preset)
    elif options.processor is not None:
        transform = PretrainedImageTransform.from_pretrained(options.processor)
    else:
        return None
    if transform.spec_shape is None:
        raise DataError(
            f"the image preprocessing of {options.processor!r} gives images whose size follows "
            "the input's (it neither crops nor resizes to a fixed size)",
            where=f"modality {name!r}",
            fix="use a checkpoint that centre-crops or resizes to a fixed size, or drop "
            "processor and give size: [H, W]",
        )
    return transform


def _pretrained_meta(options: ManifestModality) -> dict[str, Any]:
    return {"processor": options.processor, "preset": options.preset}


class ImageField(Field):
    def __init__(self, name: str, options: ManifestModality, root: DataRoot) -> None:
        super().__init__(name, options, root)
        self.transform: Any = checkpoint_image(name, options)
        if self.transform is None:
            self.transform = ImageTransform(options.size, options.mean, options.std)
            self.channels, self.shape = options.channels, (options.channels, *options.size)
        else:  # the checkpoint's own preprocessing: RGB [3, h, w]
            self.channels, self.shape = 3, self.transform.spec_shape

    def decode(self, cell: Any, where: str) -> Tensor:
        path, written = as_path(self.root, cell, self.column, where)
        try:
            image = load_image(path, self.channels)  # [C, H, W] in [0, 1]
        except DataError as exc:
            raise loader_error(self.column, exc, written) from None
        return self.transform(image)  # [C, *size]

    def spec(self) -> ModalitySpec:
        o = self.options
        meta = {"channels": self.channels, "mean": o.mean, "std": o.std, **_pretrained_meta(o)}
        return ModalitySpec(self.name, "image", tuple(self.shape), meta=meta)


class VideoField(Field):
    """Sampled frames of a video file or a folder of frames, each preprocessed like an image."""

    def __init__(self, name: str, options: ManifestModality, root: DataRoot) -> None:
        super().__init__(name, options, root)
        self.frame_transform: Any = checkpoint_image(name, options)
        if self.frame_transform is None:
            self.transform = VideoTransform(options.size, options.mean, options.std)
            self.channels, self.frame_shape = options.channels, (options.channels, *options.size)
        else:
            self.channels, self.frame_shape = 3, self.frame_transform.spec_shape

    def decode(self, cell: Any, where: str) -> Tensor:
        from polymodal.data.loaders.video import load_video, require_av

        o = self.options
        path, written = as_path(self.root, cell, self.column, where)
        if path.is_file():
            require_av()  # PyAV missing is the setup's fault, not the row's: raise it as is
        try:
            frames, _ = load_video(
                path,
                num_frames=o.num_frames,
                fps=o.fps,
                sampling=o.sampling,
                channels=self.channels,
                folder_fps=o.folder_fps,
            )  # [T, C, H, W] in [0, 1]
        except DataError as exc:
            raise loader_error(self.column, exc, written) from None
        if self.frame_transform is None:
            return self.transform(frames)  # [T, C, H', W']
        return torch.stack([self.frame_transform(f) for f in frames])  # [T, 3, h, w]

    def spec(self) -> ModalitySpec:
        o = self.options
        meta = {
            "channels": self.channels,
            "mean": o.mean,
            "std": o.std,
            "sampling": o.sampling,
            "num_frames": o.num_frames,
            "fps": o.fps,
            "folder_fps": o.folder_fps,
            **_pretrained_meta(o),
        }
        return ModalitySpec(self.name, "video", (-1, *self.frame_shape), meta=meta)


class AudioField(Field):
    """Log-mel features ``[T, n_mels]``, or a checkpoint's input (``processor``): the normalised
    waveform ``[L]`` or the extractor's features ``[T, M]``. Cells are sound files, or video
    files whose audio track is read (see ``from_video``)."""

    def __init__(self, name: str, options: ManifestModality, root: DataRoot) -> None:
        super().__init__(name, options, root)
        self.n_fft: int | None = None
        self.hop_length: int | None = None
        self.features: Any
        if options.processor is not None:
            from polymodal.data.transforms.pretrained import PretrainedAudioTransform

            self.features = PretrainedAudioTransform.from_pretrained(options.processor)
            self.rate = self.features.sample_rate
            self.shape = self.features.spec_shape  # (-1,) waveform, (T, M) / (-1, M) features
        else:
            from polymodal.data.transforms.audio import LogMelSpectrogram

            self.rate = options.sample_rate
            self.n_fft = options.n_fft or max(2, round(0.025 * self.rate))  # 25 ms window
            self.hop_length = options.hop_length or max(1, round(0.010 * self.rate))  # 10 ms
            self.features = LogMelSpectrogram(
                self.rate, n_mels=options.n_mels, n_fft=self.n_fft, hop_length=self.hop_length
            )
            self.shape = (-1, options.n_mels)
        seconds = options.max_seconds
        self.max_samples = None if seconds is None else max(1, round(seconds * self.rate))

    def _from_video(self, path: Path) -> bool:
        if self.options.from_video is not None:
            return self.options.from_video
        return path.suffix.lower() in VIDEO_SUFFIXES

    def decode(self, cell: Any, where: str) -> Tensor:
        from polymodal.data.loaders.audio import load_audio
        from polymodal.data.loaders.video import load_video_audio, require_av

        path, written = as_path(self.root, cell, self.column, where)
        from_video = self._from_video(path)
        if from_video:
            require_av()  # PyAV missing is the setup's fault, not the row's: raise it as is
        try:
            load = load_video_audio if from_video else load_audio
            wave = load(path, self.rate)  # [L]
        except DataError as exc:
            raise loader_error(self.column, exc, written) from None
        if self.max_samples is not None:
            wave = wave[: self.max_samples]  # [min(L, max_samples)]
        with torch.no_grad():
            return self.features(wave)  # [T, n_mels], or the checkpoint's [L] / [T, M]

    def spec(self) -> ModalitySpec:
        o = self.options
        meta = {"sample_rate": self.rate, "n_fft": self.n_fft, "hop_length": self.hop_length}
        if o.processor is not None:
            meta = {"sample_rate": self.rate, "processor": o.processor, "input": self.features.kind}
        return ModalitySpec(self.name, "audio", tuple(self.shape), meta=meta)


class TabularField(Field):
    @property
    def columns(self) -> list[str]:
        return list(self.options.columns or [])

    def cell(self, row: dict[str, Any]) -> Any:
        cells = {c: row[c] for c in self.columns}
        if all(v is None for v in cells.values()):
            return None
        empty = [c for c, v in cells.items() if v is None]
        if empty:
            raise RowError(
                empty[0],
                f"tabular modality {self.name!r} is partly empty (column {empty[0]!r}); fill it, "
                "or empty all its columns to mark the modality missing",
            )
        return cells

    file_backed = False

    def _numbers(self, cell: dict[str, Any]) -> list[float]:
        out = []
        for column in self.columns:  # find the column at fault, to name it as the field
            try:
                out.append(parse_number(cell[column], column))
            except DataError as exc:
                raise RowError(column, exc.what) from None
        return out

    def key(self, cell: dict[str, Any], where: str) -> str:
        """The values as numbers, in column order, as JSON (``"[1.5, -2.0]"``)."""
        return json.dumps(self._numbers(cell))

    def decode(self, cell: dict[str, Any], where: str) -> Tensor:
        self._numbers(cell)
        return load_tabular(cell, self.columns)  # [F]

    def spec(self) -> ModalitySpec:
        return ModalitySpec(
            self.name, "tabular", (len(self.columns),), meta={"columns": self.columns}
        )


FIELDS: dict[str, type[Field]] = {
    "text": TextField,
    "image": ImageField,
    "audio": AudioField,
    "video": VideoField,
    "tabular": TabularField,
}
