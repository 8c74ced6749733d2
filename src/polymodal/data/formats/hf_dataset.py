"""The ``hf_dataset`` dataset: a Hugging Face dataset folder, columns mapped to modalities.

The folder is what ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` writes, or Parquet
files in that layout (:mod:`polymodal.data.formats.hf_arrow`, read with pyarrow alone: the
``datasets`` package is needed only to make the folder). Its rows go through the manifest's
rules (:mod:`polymodal.data.manifest`: modalities, labels, bad rows, groups, state), with:

- **Splits**: a ``DatasetDict``'s splits (``validation``, ``valid`` and ``dev`` mean ``val``);
  ``splits`` renames others (``{unsupervised: null}`` leaves one out). A single ``Dataset`` is
  split at random, seeded, by ``val_fraction`` / ``test_fraction`` (by ``group_column`` groups).
- **Labels**: a ``ClassLabel`` label column gives its names, in the dataset's order, as the
  class set (its ``-1``, "no label", is an empty label: a bad row).
- **Files**: ``Image`` / ``Audio`` / ``Video`` columns that store a file ``path`` (and no bytes)
  and plain string columns of paths name files relative to ``root`` (default: the dataset
  folder). Embedded bytes are refused with an error naming the column and row.
- **Vectors**: a tabular modality's ``columns`` may name a list column of numbers
  (``Sequence(Value("float32"))``): its items become the features ``name.0`` ... ``name.n-1``.

Example (a saved ``DatasetDict`` with ``text``, ``image_path``, ``label``)::

    data:
      name: hf_dataset
      path: data/my_dataset
      modalities:
        text: {kind: text, column: text, tokenizer: word}
        image: {kind: image, column: image_path, size: [64, 64]}
      label: label
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from polymodal.data.bundle import DataBundle
from polymodal.data.formats.hf_arrow import read_features, read_splits
from polymodal.data.manifest import ManifestModality, ManifestRequest, build_manifest
from polymodal.data.manifest.options import validate_modalities
from polymodal.data.schema import TaskType
from polymodal.errors import DataError
from polymodal.registry import DATASETS

SPLIT_COLUMN = "__split__"
_MEDIA = ("Image", "Audio", "Video")


def _media_cell(cell: Any, column: str, where: str) -> Any:
    """An ``Image`` / ``Audio`` / ``Video`` cell (``{bytes, path}``) as its file path."""
    if not isinstance(cell, dict):
        return cell
    if cell.get("bytes"):
        raise DataError(
            f"column {column!r} holds embedded file bytes; polymodal reads images, audio and "
            "video from files",
            where=where,
            fix="write the files under the dataset folder and store their paths (a string "
            "column, or the feature's 'path' with no bytes), then map that column",
        )
    return cell.get("path")


def _expand(rows: list[dict[str, Any]], column: str) -> list[str]:
    """Replace list column ``column`` by ``column.0`` ... in every row; the new column names."""
    width = max((len(r[column]) for r in rows if isinstance(r.get(column), list)), default=0)
    names = [f"{column}.{i}" for i in range(width)]
    for row in rows:
        cell = row.pop(column, None)
        ok = isinstance(cell, list) and len(cell) == width
        row.update({n: (cell[i] if ok else None) for i, n in enumerate(names)})
    return names


def _vector_columns(
    modalities: dict[str, ManifestModality], rows: list[dict[str, Any]]
) -> dict[str, ManifestModality]:
    """``modalities`` with tabular list columns expanded in ``rows`` and in their options."""
    out = {}
    lists = {c for r in rows[:1] for c, v in r.items() if isinstance(v, list)}
    for name, options in modalities.items():
        columns = options.columns or []
        if options.kind == "tabular" and lists & set(columns):
            expanded = [n for c in columns for n in (_expand(rows, c) if c in lists else [c])]
            options = options.model_copy(update={"columns": expanded})
        out[name] = options
    return out


def _split_name(split: str | None, renames: dict[str, str | None], where: str) -> str | None:
    if split is None or split in renames:
        return split if split is None else renames[split]
    if split.lower() in ("train", "val", "valid", "validation", "dev", "test"):
        return split
    raise DataError(
        f"split {split!r} is not train, validation or test",
        where=where,
        fix=f"map it in data.splits (e.g. splits: {{{split}: train}}, or {{{split}: null}} to "
        "leave it out)",
    )


def _rows(
    folder: Path, label: str | list[str] | None, renames: dict[str, str | None]
) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Every kept split's rows (with :data:`SPLIT_COLUMN` when split) and a ClassLabel's names."""
    rows: list[dict[str, Any]] = []
    names: list[str] | None = None
    for split, table in read_splits(folder).items():
        ours = _split_name(split, renames, str(folder))
        if split is not None and ours is None:
            continue
        features = read_features(folder, table, split)
        where = f"{folder}, split {split!r}" if split else str(folder)
        media = [c for c, f in features.items() if isinstance(f, dict) and f.get("_type") in _MEDIA]
        if isinstance(label, str) and features.get(label, {}).get("_type") == "ClassLabel":
            names = [str(n) for n in features[label].get("names", [])]
        for number, row in enumerate(table.to_pylist(), start=1):
            for column in media:
                row[column] = _media_cell(row[column], column, f"{where}, row {number}")
            if names is not None and isinstance(label, str) and isinstance(row[label], int):
                row[label] = names[row[label]] if 0 <= row[label] < len(names) else None
            if split is not None:
                row[SPLIT_COLUMN] = ours
            rows.append({k: (None if v == "" else v) for k, v in row.items()})
    if not rows:
        raise DataError("the dataset has no rows", where=str(folder), fix="check data.path")
    return rows, names


@DATASETS.register("hf_dataset")
def hf_dataset(
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
    splits: dict[str, str | None] | None = None,
    group_column: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int | None = None,
    bad_rows: Literal["error", "skip"] = "error",
    cache_in_memory: bool = True,
    name: str | None = None,
) -> DataBundle:
    """A Hugging Face dataset folder (``save_to_disk`` or Parquet), columns as modalities.

    Args:
        seed: seed of a random split (a single ``Dataset``). Injected.
        state: an earlier build's state (classes, vocabularies), as for ``manifest``.
        path: the folder ``save_to_disk`` wrote (or of Parquet files in that layout).
        modalities, label, task, classes, id_column, group_column, val_fraction,
            test_fraction, split_seed, bad_rows, cache_in_memory: as for ``manifest``
            (``classes`` defaults to a ``ClassLabel`` label's names).
        root: folder file paths resolve against, relative to the dataset folder (default: it).
        splits: the dataset's split names -> ``train``, ``val``, ``test`` or None (left out).
        name: the dataset's name (default: the folder's name).

    Raises:
        DataError: no dataset in the folder (naming the ``hf`` extra to make one), unreadable
        shards, a split name not mapped, embedded media bytes; then as ``manifest``.
    """
    folder = Path(path)
    rows, names = _rows(folder, label, dict(splits or {}))
    options = _vector_columns(validate_modalities(modalities), rows)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    rows = [{c: r.get(c) for c in columns} for r in rows]
    fixed = classes if classes is not None or state is not None else names
    split_column = SPLIT_COLUMN if SPLIT_COLUMN in columns else None
    request = ManifestRequest(
        seed=seed, state=state, path=folder, modalities=options, label=label, task=task,
        classes=fixed, root=str(folder.absolute() / (root or ".")), id_column=id_column,  # type: ignore[arg-type]
        split_column=split_column, group_column=group_column, val_fraction=val_fraction,
        test_fraction=test_fraction, split_seed=split_seed, bad_rows=bad_rows,
        cache_in_memory=cache_in_memory, name=name or folder.name,
    )  # fmt: skip
    return build_manifest(request, lambda _: (rows, columns))
