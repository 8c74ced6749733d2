"""Markdown rendering of report blocks: escaping of table cells, relative image links, notes,
code and details; and the number format of report tables."""

from __future__ import annotations

from pathlib import Path

from polymodal.report.blocks import Code, Details, Heading, Image, Paragraph, Table
from polymodal.report.markdown import fmt, render_markdown


def test_markdown_rendering_of_blocks(tmp_path):
    image = tmp_path / "plots" / "x.png"
    text = render_markdown(
        [Heading("T", 1), Table(("a|b", "c"), (("1", "x|y"),)), Image(image, "alt", "cap")],
        tmp_path,
    )
    assert (
        text == "# T\n\n| a\\|b | c |\n|---|---|\n| 1 | x\\|y |\n\n![alt](plots/x.png)\n\n*cap*\n"
    )


def test_notes_code_and_details():
    blocks = [
        Paragraph("muted", note=True),
        Details("s", (Code("a: 1\n\n", "yaml"),)),
    ]
    assert render_markdown(blocks, Path(".")) == (
        "*muted*\n\n<details><summary>s</summary>\n\n```yaml\na: 1\n```\n\n</details>\n"
    )


def test_number_format():
    assert [fmt(None), fmt(0.5), fmt(1500.0), fmt(1234567), fmt(3), fmt("x")] == [
        "-",
        "0.5000",
        "1,500",
        "1,234,567",
        "3",
        "x",
    ]
