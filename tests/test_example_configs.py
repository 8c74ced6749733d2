"""Every example in configs/ validates, so the README's commands keep working."""

from pathlib import Path

import pytest
import yaml

from polymodal.bench.cells import expand_cells, load_spec
from polymodal.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_validates(path):
    raw = yaml.safe_load(path.read_text())
    if "datasets" in raw:  # a benchmark spec
        assert len(expand_cells(load_spec(path))) > 0
    else:
        config = load_config(path)
        assert config.model is not None or config.pretrain is not None


def test_examples_exist():
    assert len(CONFIGS) >= 3
