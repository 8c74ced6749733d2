"""The examples section of a benchmark report: for each generation dataset, a few fixed test
samples with the photo (when the inputs have one), the references and each model's output side
by side.

Per model the section shows one seed: the seed whose run scored best on the dataset's primary
metric (the first of ``eval.metrics``, in its direction; ties go to the lowest seed), so with
one seed it is that seed; the column says which (``model (seed N)``). The samples are those
every shown model answered, chosen by the hash of their id
(:func:`polymodal.report.examples.pick_examples`: the same samples in every report of the
bench); the photo is the predictions table's ``image`` column
(:mod:`polymodal.evaluate.generation.photos`). Thumbnails are written under
``BENCH_DIR/plots/<dataset>/examples/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from polymodal.bench.leaderboard import CellResult
from polymodal.bench.spec import slug
from polymodal.evaluate.generation.photos import PHOTO_COLUMN
from polymodal.report.blocks import Block, Paragraph
from polymodal.report.examples import example_blocks, pick_examples

EXAMPLE_COUNT = 4
"""Samples shown per generation dataset."""


def _score(cell: CellResult) -> float:
    """The cell's primary metric, signed so that larger is better (-inf when missing)."""
    payload = cell.payload
    value = (payload.get("metrics") or {}).get(payload.get("primary_metric"))
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return -math.inf
    return float(value) if payload.get("higher_is_better", True) else -float(value)


def shown_cell(cells: Sequence[CellResult]) -> CellResult:
    """The seed a report shows for one model: the best primary metric, ties to the lowest seed."""
    ordered = sorted(cells, key=lambda c: c.seed)
    return max(ordered, key=_score)  # max keeps the first of equal scores


def _dataset_examples(
    dataset: str, models: Mapping[str, Sequence[CellResult]], plots: Path, count: int
) -> list[Block]:
    outputs: dict[str, dict[str, str]] = {}
    references: dict[str, list[str]] = {}
    photos: dict[str, Path] = {}
    chosen: list[str] = []
    for model, cells in models.items():
        cell = shown_cell(cells)
        table = cell.clean_table()
        if table is None or not len(table):
            continue
        column = f"{model} (seed {cell.seed})"
        chosen.append(column)
        outputs[column] = dict(zip(table["id"].astype(str), table["hypothesis"], strict=True))
        for sample_id, refs in zip(table["id"].astype(str), table["references"], strict=True):
            references.setdefault(sample_id, [str(r) for r in refs])
        if PHOTO_COLUMN in table.columns:
            for sample_id, path in zip(table["id"].astype(str), table[PHOTO_COLUMN], strict=True):
                if isinstance(path, str) and path:
                    photos.setdefault(sample_id, Path(path))
    if not outputs:
        return []
    examples = pick_examples(outputs, references, photos, count)
    metric = next(iter(next(iter(models.values())))).payload.get("primary_metric")
    note = Paragraph(
        f"Each model's output is from its seed with the best {metric} (named in the column).",
        note=True,
    )
    blocks = example_blocks(examples, plots / slug(dataset), heading=f"Examples: {dataset}")
    return [*blocks[:2], note, *blocks[2:]] if blocks else []


def generation_example_blocks(
    by_dataset: Mapping[str, Mapping[str, Sequence[CellResult]]],
    plots: Path,
    count: int = EXAMPLE_COUNT,
) -> list[Block]:
    """The examples of every generation dataset (see the module docs); ``by_dataset``: dataset
    -> model -> finished cells; ``plots``: the bench's plot folder."""
    blocks: list[Block] = []
    for dataset, models in by_dataset.items():
        generation = {
            model: cells
            for model, cells in models.items()
            if cells and all(c.payload.get("task") == "generation" for c in cells)
        }
        if generation:
            blocks += _dataset_examples(dataset, generation, plots, count)
    return blocks
