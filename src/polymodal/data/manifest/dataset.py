"""One split of a manifest as a map-style dataset, and decoding a row's inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from polymodal.data.manifest.errors import RowError
from polymodal.data.manifest.fields import Field
from polymodal.data.schema import Sample
from polymodal.errors import DataError


@dataclass
class Record:
    """A good row: where it comes from, its target, its item keys, and its inputs when cached."""

    number: int
    id: str
    split: str
    row: dict[str, Any]
    target: Tensor | None
    keys: dict[str, str | None]
    inputs: dict[str, Tensor | None] | None = None
    references: tuple[str, ...] | None = None


class ManifestDataset(Dataset[Sample]):
    """One split of a manifest: a map-style dataset of preprocessed :class:`Sample`.

    Samples are kept in memory when the builder's ``cache_in_memory`` is True; otherwise each
    access decodes the row's files again (a file changed since the build raises a DataError).
    Cached samples whose cells name the same file share one tensor: treat them as read-only.
    """

    def __init__(self, records: list[Record], fields: dict[str, Field], manifest: Path) -> None:
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

    def item_paths(self, modality: str) -> list[Path | None]:
        """One path per sample, in index order: the file of a file-backed ``modality`` (its
        :meth:`item_keys` under the data root), None where the sample lacks it; every entry is
        None for a modality that is not file-backed (inline text, tabular).

        Raises:
            DataError: ``modality`` is not one of the manifest's modalities.
        """
        keys = self.item_keys(modality)
        field = self.fields[modality]
        if not field.file_backed:
            return [None] * len(keys)
        return [None if k is None else field.root.path / k for k in keys]

    def __getitem__(self, index: int) -> Sample:
        record = self.records[index]
        inputs = record.inputs
        if inputs is None:
            where = f"{self.manifest}, row {record.number} (id {record.id!r})"
            try:
                inputs = decode_inputs(record.row, self.fields, where, finish=True)
            except RowError as exc:
                path = f", path {exc.path!r}" if exc.path else ""
                raise DataError(
                    exc.reason,
                    where=f"{where}, field {exc.field!r}{path}",
                    fix="the file changed since the dataset was built: restore it, or "
                    "build with cache_in_memory: true",
                ) from None
        return Sample(record.id, dict(inputs), record.target, record.references)


def decode_inputs(
    row: dict[str, Any], fields: dict[str, Field], where: str, *, finish: bool
) -> dict[str, Any]:
    """Modality name -> decoded value (finished tensor when ``finish``), None when missing."""
    out: dict[str, Any] = {}
    for name, f in fields.items():
        cell = f.cell(row)
        value = None if cell is None else f.decode(cell, where)
        out[name] = f.finish(value) if finish and value is not None else value
    return out


def check_inputs(
    row: dict[str, Any], fields: dict[str, Field], where: str, memo: dict[tuple[str, str], Any]
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
