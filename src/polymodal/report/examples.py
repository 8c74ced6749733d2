"""The examples block of a generation report: for a few fixed test samples, the photo, the
references and each model's output side by side, where people would rather look than read.

:func:`pick_examples` chooses the samples deterministically (the ids every model answered, ranked
by the SHA-256 of the id: the same samples whatever the order of the files or the models), and
:func:`example_blocks` renders them as report blocks: per sample a heading with its id, the photo
as a thumbnail (at most ``thumbnail`` pixels a side, written as a PNG next to the report: a
``data:`` URL in the HTML page, a file link in Markdown), and one table of the references and of
each model's output (an empty output shows as ``(empty)``). Reading predictions files is the
evaluation layer's job (:func:`polymodal.evaluate.generation.examples.examples_from_files`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from polymodal.errors import DataError
from polymodal.report.blocks import Block, Heading, Image, Paragraph, table

THUMBNAIL = 192
"""Longest side, in pixels, of an example's thumbnail."""
FOLDER = "examples"
"""Folder, under the report's, of the thumbnails."""


@dataclass(frozen=True)
class Example:
    """One sample shown in a report.

    Attributes:
        id: the sample id.
        references: its reference texts.
        outputs: ``(model, hypothesis)`` pairs, in the order of the columns.
        image: the photo (any format Pillow reads), or None for text-only inputs.
    """

    id: str
    references: tuple[str, ...]
    outputs: tuple[tuple[str, str], ...]
    image: Path | None = None


def _rank(sample_id: str) -> str:
    return hashlib.sha256(sample_id.encode("utf-8")).hexdigest()


def pick_examples(
    outputs: Mapping[str, Mapping[str, str]],
    references: Mapping[str, Sequence[str]],
    images: Mapping[str, Path] | None = None,
    count: int = 4,
) -> list[Example]:
    """``count`` examples among the ids every model answered (and that have references).

    Args:
        outputs: model name -> (id -> hypothesis); the models' order is the columns'.
        references: id -> reference texts.
        images: id -> photo path (ids without one show no photo).
    """
    if not outputs:
        raise DataError("no model outputs to show", fix="give at least one predictions file")
    common = set(references)
    for hypotheses in outputs.values():
        common &= set(hypotheses)
    chosen = sorted(common, key=_rank)[:count]
    images = images or {}
    return [
        Example(
            id=i,
            references=tuple(references[i]),
            outputs=tuple((model, hyps[i]) for model, hyps in outputs.items()),
            image=Path(images[i]) if i in images else None,
        )
        for i in chosen
    ]


def thumbnail(image: Path, target: Path, size: int = THUMBNAIL) -> Path:
    """A PNG copy of ``image`` at most ``size`` pixels a side (aspect kept), written to
    ``target``."""
    from PIL import Image as PILImage

    if not image.is_file():
        raise DataError("no such image", where=str(image), fix="check the photo's path")
    with PILImage.open(image) as photo:
        copy = photo.convert("RGB")
    copy.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    copy.save(target, format="PNG", optimize=True)
    return target


def _file_name(sample_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", sample_id)[:60]
    return f"{safe}-{_rank(sample_id)[:8]}.png"


def example_blocks(
    examples: Sequence[Example],
    out_dir: str | Path,
    *,
    size: int = THUMBNAIL,
    heading: str = "Examples",
) -> list[Block]:
    """The report blocks of ``examples``; thumbnails are written under ``out_dir/examples``
    (``out_dir``: the folder of the report, which Markdown links are relative to)."""
    if not examples:
        return []
    blocks: list[Block] = [
        Heading(heading, 2),
        Paragraph(
            f"{len(examples)} test samples chosen by the hash of their id (the same samples in "
            "every report): references, then each model's output.",
            note=True,
        ),
    ]
    for example in examples:
        blocks.append(Heading(f"Sample `{example.id}`", 3))
        if example.image is not None:
            target = Path(out_dir) / FOLDER / _file_name(example.id)
            blocks.append(Image(thumbnail(example.image, target, size), f"photo {example.id}"))
        rows = [(f"reference {k}", text) for k, text in enumerate(example.references, 1)]
        rows += [(model, text.strip() or "(empty)") for model, text in example.outputs]
        blocks.append(table(["", "text"], rows))
    return blocks
