"""Loaders: decode one manifest field (inline value or file) into raw data.

Each loader takes a value or an already resolved path and returns raw, untransformed data, raising
:class:`~polymodal.errors.DataError` (what, where, fix) when it cannot. Resolving paths against a
manifest and refusing paths that escape it is the manifest's job, not the loaders'.

- :func:`~polymodal.data.loaders.text.load_text`: inline text or a UTF-8 file -> ``str``.
- :func:`~polymodal.data.loaders.image.load_image`: Pillow -> float32 ``[C, H, W]`` in [0, 1].
- :func:`~polymodal.data.loaders.tabular.load_tabular`: numeric cells -> float32 ``[F]``.
- ``polymodal.data.loaders.audio.load_audio``: a sound file -> float32 mono ``[L]``.
"""

from __future__ import annotations

from polymodal.data.loaders.image import load_image
from polymodal.data.loaders.tabular import load_tabular, parse_number
from polymodal.data.loaders.text import load_text, read_text_file

__all__ = ["load_image", "load_tabular", "load_text", "parse_number", "read_text_file"]
