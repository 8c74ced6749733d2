"""The optional libraries that define the generation metrics' conventions (the ``generation``
extra): a clear error naming the extra when one is missing."""

from __future__ import annotations

import importlib
import shutil
from types import ModuleType

from polymodal.errors import PolymodalError

EXTRA = "generation"
"""The pyproject extra that installs sacrebleu, rouge-score and pycocoevalcap."""


def require(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``"sacrebleu"``) or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PolymodalError(
            f"the generation metrics need {module.split('.')[0]!r}, which is not installed",
            fix=f"pip install 'polymodal[{EXTRA}]'",
        ) from None


def require_java(what: str) -> str:
    """The path of ``java``, or an error saying that ``what`` (METEOR, PTB tokenizer) needs it."""
    java = shutil.which("java")
    if java is None:
        raise PolymodalError(
            f"{what} runs Java (as pycocoevalcap does), and no `java` is on the PATH",
            fix="install a Java runtime (e.g. openjdk-17-jre-headless), or leave this metric out",
        )
    return java
