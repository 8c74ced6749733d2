"""The public API (polymodal/__init__.py): every exported name resolves to the object its
module defines, lazily, without importing torch on `import polymodal`."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import polymodal

PACKAGE = Path(polymodal.__file__).parent


@pytest.mark.parametrize("name", polymodal.__all__)
def test_every_exported_name_resolves_to_its_modules_object(name: str) -> None:
    value = getattr(polymodal, name)
    if name == "__version__":
        assert isinstance(value, str)
        return
    module = importlib.import_module(polymodal._EXPORTS[name])
    assert value is getattr(module, polymodal._RENAMED.get(name, name))
    assert name in dir(polymodal)


def test_no_exported_name_is_a_subpackage_name() -> None:
    """``import polymodal.train.run`` sets ``polymodal.train`` to the package: an export of
    that name would be replaced by the module."""
    submodules = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    assert not set(polymodal.__all__) & submodules


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        polymodal.nope  # noqa: B018


def test_import_is_light_and_names_load_on_use() -> None:
    code = (
        "import sys, polymodal\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'polymodal.config' not in sys.modules\n"
        "polymodal.load_config\n"
        "assert 'torch' not in sys.modules, 'torch imported by load_config'\n"
        "import logging\n"
        "assert not logging.getLogger('polymodal').handlers  # no import-time logging set-up\n"
        "print(polymodal.Encoder.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "polymodal.encoders.base"
