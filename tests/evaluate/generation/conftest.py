"""Real sentences for the generation metric tests: Tatoeba (en/zh) and Flickr8k-1k captions."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def _mix(texts: list[str], shift: int, every: int) -> list[str]:
    """Hypotheses that are the right text on some rows and another row's text elsewhere."""
    return [texts[(i + shift) % len(texts)] if i % every else t for i, t in enumerate(texts)]


@pytest.fixture(scope="session")
def tatoeba() -> dict[str, list]:
    """600 random Tatoeba pairs: English and Chinese references and system outputs, with an
    empty and a whitespace-only hypothesis in each system."""
    path = DATA / "tatoeba-cmn-eng" / "cmn-eng.tsv"
    if not path.is_file():
        pytest.skip(f"no {path}")
    rows = [line.split("\t")[:2] for line in path.read_text(encoding="utf-8").splitlines()]
    sample = random.Random(0).sample(rows, 600)
    en, zh = [r[0] for r in sample], [r[1] for r in sample]
    out = {
        "en": en,
        "zh": zh,
        "hyp_en": _mix(en, 1, 3),
        "hyp_en_b": _mix(en, 2, 2),
        "hyp_zh": _mix(zh, 1, 3),
    }
    for key in ("hyp_en", "hyp_en_b", "hyp_zh"):
        out[key][5], out[key][7] = "", "   "
    return out


@pytest.fixture(scope="session")
def flickr() -> dict[str, list]:
    """300 Flickr8k-1k photos: 4 reference captions each, a hypothesis that is the fifth caption
    of the photo or of another photo, and one empty hypothesis."""
    path = DATA / "flickr8k-1k" / "captions.csv"
    if not path.is_file():
        pytest.skip(f"no {path}")
    captions: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions[row["image"]].append(row["caption"])
    images = sorted(captions)[:300]
    hyps = [
        captions[images[(i + 1) % 300]][0] if i % 2 else captions[im][0]
        for i, im in enumerate(images)
    ]
    hyps[3] = ""
    return {"hyps": hyps, "refs": [captions[im][1:] for im in images]}


@pytest.fixture(scope="session")
def tatoeba_groups() -> tuple[list[str], list[list[str]]]:
    """English sentences having 2+ Chinese translations in Tatoeba, and 300 having one: each
    with all its translations as references."""
    path = DATA / "tatoeba-cmn-eng" / "cmn-eng.tsv"
    if not path.is_file():
        pytest.skip(f"no {path}")
    groups: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        english, chinese = line.split("\t")[:2]
        groups[english].append(chinese)
    many = [k for k, v in groups.items() if len(v) > 1][:300]
    single = [k for k, v in groups.items() if len(v) == 1][:300]
    sources = many + single
    return sources, [groups[k] for k in sources]
