"""Derived modalities: a modality computed from another, once, and cached by content.

A manifest modality with ``derive:`` is not read from its cell: its value is computed from the
file the cell names by a registered :class:`~polymodal.data.derive.base.Deriver`. Today's
deriver is ``asr`` (:mod:`polymodal.data.derive.asr`): the words of a clip from its audio
(a sound file, or a video file's audio track) by Whisper speech recognition::

    data:
      name: manifest
      path: clips.csv
      derived_cache: cache/derived          # where derived values are stored (nothing elsewhere)
      modalities:
        frames: {kind: video, column: clip, num_frames: 8, size: [64, 64]}
        audio: {kind: audio, column: clip, n_mels: 64}
        words: {kind: text, column: clip, derive: {name: asr}}   # Whisper tiny.en, CPU, int8

Each value is computed once per (deriver, source content): the key is the deriver fingerprint
(its identity, model weights digest included, and how the source is read) and the SHA-256 of the
source file (:mod:`polymodal.data.derive.cache`), the feature cache's fingerprinting
(:mod:`polymodal.digest`). Without ``derived_cache`` values are computed in memory for that build
only. The run records each derivation in its data state (``checkpoint/data_state.json``:
``derived``), and the config snapshot holds the ``derive:`` declaration and the cache folder.

The other derived modalities need no ``derive:``: frames and the audio track of a video come from
a ``video`` and an ``audio`` modality naming the same clip column (:mod:`polymodal.data.manifest`),
and features of a frozen encoder are cached by ``train.feature_cache``
(:mod:`polymodal.features`).
"""

from polymodal.data.derive.base import DERIVERS, Deriver, build_deriver
from polymodal.data.derive.cache import DerivedCache, deriver_fingerprint

__all__ = ["DERIVERS", "DerivedCache", "Deriver", "build_deriver", "deriver_fingerprint"]
