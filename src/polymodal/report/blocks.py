"""The block model of every report: a report is a list of :data:`Block`.

Headings, paragraphs, lists, tables, images, code and collapsible details. Two renderers turn the
same list into ``report.md`` (:func:`polymodal.report.markdown.render_markdown`) and into one
self-contained ``report.html`` (:func:`polymodal.report.html.render_html`), so the two files of a
report show the same headings, numbers and plots. Table cells are text, formatted once here
(:func:`polymodal.report.markdown.fmt` for numbers), never by a renderer.

In paragraph, list and table text, ```code``` spans are code in both renderings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    """A section heading; ``level`` 1 (title) to 4."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text; ``note`` renders it smaller and muted (italic in Markdown)."""

    text: str
    note: bool = False


@dataclass(frozen=True)
class BulletList:
    """An unordered list of short texts."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table of text cells (already formatted); numbers are right-aligned in HTML."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Image:
    """A PNG image: a file path (relative links in Markdown, a ``data:`` URI in HTML)."""

    path: Path
    alt: str
    caption: str | None = None


@dataclass(frozen=True)
class Code:
    """Preformatted text (a config file, a JSON document)."""

    text: str
    language: str = ""


@dataclass(frozen=True)
class Details:
    """A collapsible group of blocks, closed by default."""

    summary: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


Block = Heading | Paragraph | BulletList | Table | Image | Code | Details


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """A :class:`Table` from any cell values (``str()`` of each)."""
    return Table(tuple(header), tuple(tuple(str(c) for c in row) for row in rows))


def anchor(text: str) -> str:
    """The ``id`` of a heading: lower case, runs of other characters as ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
