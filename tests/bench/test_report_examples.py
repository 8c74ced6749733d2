"""Which seed of a model a benchmark report's examples show, and which datasets get examples."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from polymodal.bench.leaderboard import CellResult
from polymodal.bench.report_examples import generation_example_blocks, shown_cell
from polymodal.report.blocks import Heading, Table


def _cell(seed: int, value: float, *, higher: bool = True, task: str = "generation") -> CellResult:
    payload = {"task": task, "primary_metric": "m", "higher_is_better": higher,
               "metrics": {"m": value}}  # fmt: skip
    table = pd.DataFrame({
        "id": ["a", "b"], "hypothesis": [f"out {seed}", ""], "references": [["ra"], ["rb"]],
    })  # fmt: skip
    return CellResult("d", "x", seed, payload, predictions=lambda: table)


def test_the_best_seed_is_shown_in_the_metric_direction_ties_to_the_lowest() -> None:
    assert shown_cell([_cell(0, 0.1), _cell(1, 0.3), _cell(2, 0.2)]).seed == 1
    assert shown_cell([_cell(2, 0.3), _cell(1, 0.3), _cell(0, 0.1)]).seed == 1
    lower = [_cell(0, 5.0, higher=False), _cell(1, 2.0, higher=False)]
    assert shown_cell(lower).seed == 1  # e.g. TER: lower is better
    assert shown_cell([_cell(3, math.nan), _cell(4, math.nan)]).seed == 3  # no score: lowest


def test_only_generation_datasets_get_examples(tmp_path: Path) -> None:
    by_dataset = {
        "gen": {"x": [_cell(0, 0.5), _cell(1, 0.7)], "y": [_cell(0, 0.2)]},
        "cls": {"x": [_cell(0, 0.5, task="multiclass")]},
    }
    blocks = generation_example_blocks(by_dataset, tmp_path, count=2)
    headings = [b.text for b in blocks if isinstance(b, Heading)]
    assert headings[0] == "Examples: gen"
    assert not any("cls" in h for h in headings)
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables) == 2  # two samples, no photos (text only)
    rows = dict(tables[0].rows)
    assert rows["x (seed 1)"] in ("out 1", "(empty)")  # seed 1 scored best for x
    assert set(rows) == {"reference 1", "x (seed 1)", "y (seed 0)"}
