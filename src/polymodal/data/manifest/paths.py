"""Path safety: the data root of a manifest, and cells resolved inside it (never outside)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.data.manifest.errors import RowError
from polymodal.errors import DataError


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


def as_path(root: DataRoot, value: Any, field: str, where: str) -> tuple[Path, str]:
    """A cell naming a file: ``(the path resolved inside the root, the cell as written)``.

    Raises:
        RowError: the cell is not text, or not a usable path (a NUL byte, a symlink loop).
        DataError: the path leaves the root (:func:`resolve_within`).
    """
    if not isinstance(value, str):
        raise RowError(field, f"expected a file path (text), got {type(value).__name__}")
    try:
        if "\0" in value:
            raise ValueError("embedded null byte")
        os.fsencode(value)  # lone surrogates cannot name a file
        at = f"{where}, field {field!r}, path {value!r}"
        return resolve_within(root.path, value, where=at, root_name=root.name), value
    except ValueError as exc:  # UnicodeEncodeError is a ValueError
        raise RowError(field, f"not a usable file path ({exc})", value) from None
    except RuntimeError as exc:  # Path.resolve on a symlink loop (Python < 3.13)
        raise RowError(field, f"cannot resolve the path ({exc})", value) from None
