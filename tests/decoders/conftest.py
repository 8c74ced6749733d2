"""Fixtures of the decoder tests: a tiny causal LM saved once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_lm import save_tiny_lm


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the tiny Llama and its tokenizer (no pad token)."""
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))
