"""Self-contained HTML pages from report blocks: escaping, embedded images, CSP, anchors."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from polymodal.report.blocks import (
    BulletList,
    Code,
    Details,
    Heading,
    Image,
    Paragraph,
    anchor,
    table,
)
from polymodal.report.html import CSP, inline, render_html
from polymodal.report.plots import plot_confusion_matrix


@pytest.fixture
def png(tmp_path):
    return plot_confusion_matrix(np.eye(2), ["a", "b"], tmp_path / "c.png", size=(2, 2), dpi=30)


def test_page_is_self_contained(png):
    page = render_html(
        "Title <x>",
        [
            Heading("Report", 1),
            Heading("Section", 2),
            Paragraph("see `config.yaml` & <b>this</b>"),
            Image(png, "matrix", "a caption"),
        ],
    )
    assert page.startswith("<!DOCTYPE html>")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP
    assert "<title>Title &lt;x&gt;</title>" in page
    assert "<script" not in page
    assert "<link" not in page
    for value in re.findall(r'(?:src|href)="([^"]*)"', page):  # nothing fetched from anywhere
        assert value.startswith(("data:image/png;base64,", "#")), value
    embedded = re.search(r'<img src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == png.read_bytes()
    assert "<figcaption>a caption</figcaption>" in page
    assert "<p>see <code>config.yaml</code> &amp; &lt;b&gt;this&lt;/b&gt;</p>" in page


def test_headings_get_unique_anchors_and_a_table_of_contents():
    page = render_html(
        "t",
        [Heading("Top", 1), Heading("Models", 2), Heading("A / b", 3), Heading("Models", 2)],
    )
    assert '<h2 id="models">Models</h2>' in page
    assert '<h2 id="models-2">Models</h2>' in page
    assert '<h3 id="a-b">A / b</h3>' in page
    toc = re.search(r'<nav class="toc">.*?</nav>', page).group(0)
    assert re.findall(r'href="#([^"]+)"', toc) == ["models", "models-2"]
    assert page.index("<nav") > page.index("<h1")
    assert page.index("<nav") < page.index('<h2 id="models">')
    assert anchor("Δ vs best!") == "vs-best"


def test_tables_lists_code_and_details():
    page = render_html(
        "t",
        [
            table(["model", "accuracy"], [["a<b", "0.9500 ± 0.0100"], ["c", "-"]]),
            BulletList(("one `x`", "two")),
            Details("config", (Code("seed: 1\nname: <n>", "yaml"),)),
        ],
    )
    assert "<th>model</th><th>accuracy</th>" in page
    assert "<td>a&lt;b</td>" in page
    assert '<td class="num">0.9500 ± 0.0100</td>' in page  # numbers align right
    assert "<td>-</td>" in page
    assert "<ul><li>one <code>x</code></li><li>two</li></ul>" in page
    assert '<details><summary>config</summary>\n<pre><code class="language-yaml">' in page
    assert "name: &lt;n&gt;</code></pre>" in page
    assert inline("`<a>`") == "<code>&lt;a&gt;</code>"
