"""The Markdown rendering of a report's blocks (:mod:`polymodal.report.blocks`), and :func:`fmt`.

The HTML rendering of the same blocks is :func:`polymodal.report.html.render_html`. Images are
linked relative to the report's folder; collapsible details are HTML ``<details>`` elements, which
Markdown viewers show as such.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polymodal.report.blocks import (
    Block,
    BulletList,
    Code,
    Details,
    Heading,
    Image,
    Paragraph,
    Table,
)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: fixed decimals for floats, ``-`` for missing values."""
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1000:
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(block: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in block.header) + " |"]
    lines.append("|" + "---|" * len(block.header))
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
    return "\n".join(lines)


def _block_markdown(block: Block, base: Path) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return f"*{block.text}*" if block.note else block.text
    if isinstance(block, BulletList):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        link = Path(os.path.relpath(block.path, base)).as_posix()
        caption = f"\n\n*{block.caption}*" if block.caption else ""
        return f"![{block.alt}]({link}){caption}"
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text.rstrip()}\n```"
    if isinstance(block, Details):
        inner = "\n\n".join(_block_markdown(b, base) for b in block.blocks)
        return f"<details><summary>{block.summary}</summary>\n\n{inner}\n\n</details>"
    raise TypeError(f"not a report block: {type(block).__name__}")


def render_markdown(blocks: Sequence[Block], base: str | Path) -> str:
    """Markdown of ``blocks``; image links are relative to ``base`` (the report's folder)."""
    return "\n\n".join(_block_markdown(b, Path(base)) for b in blocks) + "\n"
