"""Derived manifest modalities (``derive:``): a text modality computed from a clip's audio.

A text modality with ``derive: {name: asr, ...}`` reads its cell as the path of a sound file or
a video file (its audio track, by the suffix rule of audio modalities: ``from_video``), decodes
the audio at the deriver's rate, and takes the deriver's output as its text, which is then
tokenised like any text (vocabulary from the training split). Values are cached by content
(:class:`~polymodal.data.derive.cache.DerivedCache`) in ``derived_cache`` when given; rows naming
one file derive it once per build either way. A file that is missing, not decodable or without an
audio track is a bad row (``bad_rows``), naming the row, the column and the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polymodal.data.derive import DerivedCache, build_deriver
from polymodal.data.manifest.errors import RowError, loader_error
from polymodal.data.manifest.fields import FIELDS, Field, TextField
from polymodal.data.manifest.options import VIDEO_SUFFIXES, ManifestModality
from polymodal.data.manifest.paths import DataRoot, as_path
from polymodal.digest import file_digest
from polymodal.errors import ConfigError, DataError


class DerivedTextField(TextField):
    """Text derived from the audio of the file a cell names (see the module docs).

    Attributes:
        deriver: the :class:`~polymodal.data.derive.base.Deriver` (``source_kind`` audio,
            ``output_kind`` text).
        cache: the :class:`DerivedCache`, or None (values kept for this build only).
    """

    def __init__(
        self, name: str, options: ManifestModality, root: DataRoot, cache_dir: str | None
    ) -> None:
        super().__init__(name, options, root)
        assert options.derive is not None
        self.deriver = build_deriver(options.derive, f"modalities.{name}")
        kinds = (self.deriver.source_kind, self.deriver.output_kind)
        if kinds != ("audio", "text"):
            raise ConfigError(
                [
                    f"modalities.{name}.derive: a text modality needs a deriver from audio to "
                    f"text; {self.deriver.name!r} goes from {kinds[0]} to {kinds[1]}"
                ]
            )
        self.reading = {"sample_rate": self.deriver.sample_rate, "from_video": options.from_video}
        self.memo: dict[Path, str] = {}
        self.cache = (
            None
            if cache_dir is None
            else DerivedCache(Path(cache_dir).expanduser(), self.deriver, self.reading)
        )

    @property
    def file_backed(self) -> bool:  # type: ignore[override]
        return True

    def key(self, cell: Any, where: str) -> str:
        return Field.key(self, cell, where)

    def _wave(self, path: Path, written: str) -> Any:
        from polymodal.data.loaders.audio import load_audio
        from polymodal.data.loaders.video import load_video_audio, require_av

        from_video = self.options.from_video
        if from_video is None:
            from_video = path.suffix.lower() in VIDEO_SUFFIXES
        if from_video:
            require_av()  # PyAV missing is the setup's fault, not the row's: raise it as is
        try:
            return (load_video_audio if from_video else load_audio)(path, self.deriver.sample_rate)
        except DataError as exc:
            raise loader_error(self.column, exc, written) from None

    def decode(self, cell: Any, where: str) -> str:
        path, written = as_path(self.root, cell, self.column, where)
        if self.cache is None:  # derived once per file and process (cache_in_memory off too)
            if path not in self.memo:
                self.memo[path] = str(self.deriver(self._wave(path, written)))
            return self.memo[path]
        try:
            digest = file_digest(path)
        except OSError as exc:
            reason = "file not found" if not path.exists() else f"cannot read file ({exc})"
            raise RowError(self.column, reason, written) from None
        found, value = self.cache.get(digest)
        if not found:
            value = str(self.deriver(self._wave(path, written)))
            self.cache.put(digest, value, self.root.key(path))
        return str(value)

    def record(self) -> dict[str, Any]:
        """What the run records of this derivation (``state["derived"][name]``)."""
        return {
            "deriver": self.deriver.name,
            "params": {k: v for k, v in (self.options.derive or {}).items() if k != "name"},
            "source_column": self.column,
            "fingerprint": None if self.cache is None else self.cache.fingerprint,
            "cache": None if self.cache is None else str(self.cache.root),
        }


def make_field(
    name: str, options: ManifestModality, root: DataRoot, derived_cache: str | None
) -> Field:
    """The field of a modality: :class:`DerivedTextField` when it has ``derive:``, else its
    kind's field (:data:`~polymodal.data.manifest.fields.FIELDS`)."""
    if options.derive is not None:
        return DerivedTextField(name, options, root, derived_cache)
    return FIELDS[options.kind](name, options, root)


def derived_records(fields: dict[str, Field]) -> dict[str, dict[str, Any]]:
    """``modality -> record`` of every derived field (see :meth:`DerivedTextField.record`)."""
    return {n: f.record() for n, f in fields.items() if isinstance(f, DerivedTextField)}
