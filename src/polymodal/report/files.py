"""Writing a report's two files, ``report.md`` and ``report.html``, from the same blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from polymodal.io import write_text_atomic
from polymodal.report.blocks import Block
from polymodal.report.html import render_html
from polymodal.report.markdown import render_markdown

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class WrittenReport:
    """Where a report was written, and (for a benchmark) its leaderboard as Markdown."""

    markdown: Path
    html: Path
    leaderboard_markdown: str = ""


def write_report_files(blocks: Sequence[Block], folder: str | Path, title: str) -> WrittenReport:
    """Render ``blocks`` to ``folder/report.md`` (image links relative to ``folder``) and to one
    self-contained ``folder/report.html`` titled ``title``, each written atomically."""
    folder = Path(folder)
    markdown_path, html_path = folder / REPORT_MD, folder / REPORT_HTML
    write_text_atomic(markdown_path, render_markdown(blocks, folder))
    write_text_atomic(html_path, render_html(title, blocks))
    return WrittenReport(markdown_path, html_path)
