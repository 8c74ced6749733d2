"""Examples for a report from several models' generation predictions files.

:func:`examples_from_files` reads each model's predictions file (JSONL / Parquet: ``id``,
``hypothesis``, ``references``; the checked reader of
:mod:`polymodal.evaluate.generation.texts`), takes the references of the first file, finds each
sample's photo, and picks the samples with :func:`polymodal.report.examples.pick_examples`.
Render them with :func:`polymodal.report.examples.example_blocks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from polymodal.evaluate.generation.texts import read_generation_file
from polymodal.report.examples import Example, pick_examples


def examples_from_files(
    files: Mapping[str, str | Path],
    *,
    images: Mapping[str, str | Path] | None = None,
    image_root: str | Path | None = None,
    image_column: str = "image",
    count: int = 4,
) -> list[Example]:
    """``count`` examples of the models' predictions ``files`` (model name -> file).

    A sample's photo is ``images[id]`` when given, else the value of ``image_column`` in the
    first file that has that column, else ``image_root / id`` when that file exists; paths that
    are relative are taken under ``image_root``.
    """
    outputs: dict[str, dict[str, str]] = {}
    references: dict[str, list[str]] = {}
    photos: dict[str, Path] = {}
    root = Path(image_root) if image_root is not None else None
    for model, path in files.items():
        table = read_generation_file(path)
        outputs[model] = dict(zip(table["id"], table["hypothesis"], strict=True))
        for sample_id, refs in zip(table["id"], table["references"], strict=True):
            references.setdefault(sample_id, list(refs))
        if image_column in table.columns:
            for sample_id, value in zip(table["id"], table[image_column], strict=True):
                if isinstance(value, str) and value:
                    photos.setdefault(sample_id, Path(value))
    photos.update({k: Path(v) for k, v in (images or {}).items()})
    if root is not None:
        photos = {k: v if v.is_absolute() else root / v for k, v in photos.items()}
        for sample_id in references:
            if sample_id not in photos and (root / sample_id).is_file():
                photos[sample_id] = root / sample_id
    return pick_examples(outputs, references, photos, count)
