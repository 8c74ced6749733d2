"""Fixtures of the reliability tests: the bad-input corpus written into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_corpus import write_media


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A folder holding the corpus of :mod:`reliability_corpus` (manifests go in it too)."""
    return write_media(tmp_path / "data")
