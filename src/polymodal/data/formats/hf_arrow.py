"""Reading a Hugging Face dataset folder with pyarrow alone: tables per split and features.

Layouts read (``datasets`` itself is not imported):

- ``Dataset.save_to_disk(folder)``: ``folder/state.json`` (``_data_files``: the shards, in
  order), ``dataset_info.json`` (``features``) and ``data-0000i-of-0000n.arrow`` (Arrow IPC
  streams);
- ``DatasetDict.save_to_disk(folder)``: ``folder/dataset_dict.json`` (``splits``) and one such
  folder per split;
- Parquet in the same places (a split folder of ``*.parquet``), or the Hub's layout: ``*.parquet``
  files named ``<split>-*.parquet`` or ``<split>.parquet``, at the top or under ``data/``.

Features come from ``dataset_info.json`` or, failing that, the ``huggingface`` metadata that
``datasets`` writes into each table's schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from polymodal.errors import DataError

EXTRA_FIX = (
    "save the dataset with the `datasets` package first (pip install 'polymodal[hf]'; then "
    "datasets.load_dataset(...).save_to_disk(FOLDER)) and give that folder as data.path"
)


def _read_table(path: Path) -> Any:
    """One Arrow stream / Arrow file / Parquet shard as a pyarrow Table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        try:
            with pa.memory_map(str(path)) as source:
                return pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid:
            with pa.memory_map(str(path)) as source:
                return pa.ipc.open_file(source).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read the data file ({exc})",
            where=str(path),
            fix="check that the dataset folder is complete (save_to_disk finished)",
        ) from None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read JSON ({exc})", where=str(path), fix=EXTRA_FIX) from None


def _shards(folder: Path) -> list[Path]:
    """A split folder's data files, in order (``state.json``'s list when it has one)."""
    state = folder / "state.json"
    if state.is_file():
        files = _json(state).get("_data_files") or []
        names = [f.get("filename") for f in files if isinstance(f, dict)]
        paths = [folder / n for n in names if isinstance(n, str)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise DataError(
                f"data file(s) listed in state.json are missing: {', '.join(missing[:5])}",
                where=str(folder),
                fix="copy the whole folder save_to_disk wrote",
            )
        if paths:
            return paths
    return sorted(folder.glob("*.arrow")) or sorted(folder.glob("*.parquet"))


def _concat(paths: list[Path]) -> Any:
    import pyarrow as pa

    tables = [_read_table(p) for p in paths]
    try:
        return pa.concat_tables(tables, promote_options="default")
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"the shards have different columns ({exc})",
            where=str(paths[0].parent),
            fix="use the folder one save_to_disk call wrote",
        ) from None


_HUB_SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_]+?)(-\d+-of-\d+|-[0-9]{5}.*)?\.parquet$")


def _hub_parquet(folder: Path) -> dict[str, list[Path]]:
    """``<split>-*.parquet`` / ``<split>.parquet`` files at the top or under ``data/``."""
    found: dict[str, list[Path]] = {}
    for path in sorted([*folder.glob("*.parquet"), *(folder / "data").glob("*.parquet")]):
        match = _HUB_SHARD.match(path.name)
        split = match.group("split") if match else path.stem
        found.setdefault(split, []).append(path)
    return found


def read_splits(folder: Path) -> dict[str | None, Any]:
    """Split name (None: a single, unsplit dataset) -> its pyarrow Table.

    Raises:
        DataError: not a folder, or no layout above found in it (naming the ``hf`` extra),
        unreadable or missing shards.
    """
    if not folder.is_dir():
        raise DataError(
            "not a dataset folder (save_to_disk writes a folder)",
            where=str(folder),
            fix=EXTRA_FIX,
        )
    if (folder / "dataset_dict.json").is_file():
        names = _json(folder / "dataset_dict.json").get("splits") or []
        out: dict[str | None, Any] = {}
        for name in names:
            shards = _shards(folder / str(name))
            if not shards:
                raise DataError(
                    f"split {name!r} has no data files", where=str(folder / name), fix=EXTRA_FIX
                )
            out[str(name)] = _concat(shards)
        return out
    if (folder / "state.json").is_file() or list(folder.glob("*.arrow")):
        return {None: _concat(_shards(folder))}
    subfolders = {p.name: sorted(p.glob("*.parquet")) for p in folder.iterdir() if p.is_dir()}
    by_folder = {k: v for k, v in subfolders.items() if v and k != "data"}
    hub = by_folder or _hub_parquet(folder)
    if hub:
        return {name: _concat(paths) for name, paths in hub.items()}
    raise DataError(
        "no dataset found: neither save_to_disk's files (dataset_dict.json, state.json, "
        "*.arrow) nor Parquet files",
        where=str(folder),
        fix=EXTRA_FIX,
    )


def read_features(folder: Path, table: Any, split: str | None) -> dict[str, Any]:
    """The ``features`` mapping (column -> ``{"_type": ...}``) of one split, or ``{}``."""
    info = folder / (split or "") / "dataset_info.json" if split else folder / "dataset_info.json"
    if info.is_file():
        features = _json(info).get("features")
        if isinstance(features, dict):
            return features
    raw = (table.schema.metadata or {}).get(b"huggingface")
    if raw:
        try:
            features = json.loads(raw).get("info", {}).get("features")
        except ValueError:
            features = None
        if isinstance(features, dict):
            return features
    return {}
