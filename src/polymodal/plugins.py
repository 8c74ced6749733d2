"""Load a user's own components (encoders, fusions, metrics, datasets, objectives, ...).

A plugin is an ordinary Python module that registers components when it is imported::

    # my_plugins.py (anywhere on PYTHONPATH, or in the folder polymodal runs from)
    from polymodal.registry import ENCODERS
    from polymodal.encoders.base import Encoder

    @ENCODERS.register("my_encoder")
    class MyEncoder(Encoder): ...

It is named in one of three ways, none of which edits polymodal:

- ``--plugin my_plugins`` on the command line (repeatable, before or after the subcommand);
- ``plugins: [my_plugins]`` in an experiment config or a benchmark spec (imported before the
  config is checked, and saved with the run, so ``polymodal evaluate RUN`` finds them again);
- the ``polymodal.plugins`` entry-point group of an installed package, loaded once when the
  ``polymodal`` command starts (or by :func:`load_entry_points`)::

      [project.entry-points."polymodal.plugins"]
      my_plugins = "my_package.polymodal_plugins"           # a module: imported
      more = "my_package.setup:register_components"         # a function: called, no arguments

A module is imported once per process (Python caches it), so naming it twice is harmless. A
plugin that cannot be imported raises :class:`PluginError` naming the plugin and where it was
named; the original exception is chained.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from collections.abc import Iterable
from types import ModuleType

from polymodal.errors import PolymodalError

ENTRY_POINT_GROUP = "polymodal.plugins"
"""Entry-point group of installed packages' plugins."""

_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

_entry_points_loaded: list[str] | None = None  # names of the entry points, once loaded


class PluginError(PolymodalError):
    """A plugin module is misnamed, cannot be found, or fails while it is imported."""


def _not_found(error: ModuleNotFoundError, name: str) -> bool:
    """True when ``error`` says the plugin module itself (or a parent package) is missing,
    not a module that the plugin imports."""
    missing = error.name or ""
    return bool(missing) and (name == missing or name.startswith(missing + "."))


def load_plugin(name: str, *, where: str = "--plugin") -> ModuleType:
    """Import the plugin module ``name`` (a dotted import name, e.g. ``my_plugins``).

    The module is looked up on ``sys.path`` and then in the current directory (as ``python -m``
    would), so a ``my_plugins.py`` next to where polymodal runs is found.

    Args:
        name: the module's import name.
        where: where it was named, for the error message (``--plugin``, a config file, ...).

    Raises:
        PluginError: ``name`` is not a module name, the module is not found, or importing it
            raises (e.g. it registers a name that is already taken).
    """
    if not isinstance(name, str) or not _MODULE_NAME.match(name) or name.endswith(".py"):
        raise PluginError(
            f"plugin {name!r} is not a module name",
            where=where,
            fix="give the module's import name, e.g. my_plugins for my_plugins.py",
        )
    try:
        return _import_with_cwd(name)
    except ModuleNotFoundError as error:
        if not _not_found(error, name):
            raise _failed(name, where, error) from error
        raise PluginError(
            f"plugin {name!r} not found (no module named {error.name!r})",
            where=where,
            fix=f"put the folder holding {name.split('.')[0]}.py on PYTHONPATH or run polymodal "
            "from it, or install the package that provides it",
        ) from error
    except Exception as error:  # anything the plugin's own code raises while it is imported
        raise _failed(name, where, error) from error


def _failed(name: str, where: str, error: BaseException) -> PluginError:
    return PluginError(
        f"plugin {name!r} failed while it was imported: {type(error).__name__}: {error}",
        where=where,
        fix="fix the plugin module (run with --debug for the traceback)",
    )


def _import_with_cwd(name: str) -> ModuleType:
    """``importlib.import_module(name)``, with the current directory on ``sys.path`` meanwhile."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    finally:
        if added:
            sys.path.remove(cwd)


def load_plugins(names: Iterable[str], *, where: str = "--plugin") -> list[str]:
    """Import every plugin module of ``names`` in order; returns the names.

    Raises:
        PluginError: at the first plugin that cannot be imported (see :func:`load_plugin`).
    """
    loaded = []
    for name in names:
        load_plugin(name, where=where)
        loaded.append(name)
    return loaded


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load the plugins installed packages declare in the entry-point ``group``, once per
    process; returns the entry points' names (sorted).

    An entry point naming a module imports it; one naming a function (``module:function``)
    calls it with no arguments.

    Raises:
        PluginError: an entry point cannot be loaded or its function raises; the message names
            the entry point and its distribution.
    """
    global _entry_points_loaded
    if _entry_points_loaded is not None and group == ENTRY_POINT_GROUP:
        return list(_entry_points_loaded)
    found = sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name)
    for entry in found:
        dist = getattr(entry.dist, "name", None) or "an installed package"
        where = f"entry point {entry.name} = {entry.value} ({group}, from {dist})"
        try:
            target = entry.load()
            if not isinstance(target, ModuleType) and callable(target):
                target()
        except Exception as error:
            raise _failed(entry.name, where, error) from error
    names = [entry.name for entry in found]
    if group == ENTRY_POINT_GROUP:
        _entry_points_loaded = names
    return names
