"""HTML rendering of report blocks (:mod:`polymodal.report.blocks`) as ONE self-contained file.

:func:`render_html` turns a list of blocks into a page that needs nothing else: CSS is inline,
every image is embedded as a ``data:`` URI (:func:`polymodal.report.plots.png_to_data_uri`),
there is no script, and a Content-Security-Policy (``default-src 'none'``) forbids the browser
to load anything from anywhere, so the file can be mailed, archived or opened offline and shows
the same.
The Markdown rendering of the same blocks is :func:`polymodal.report.markdown.render_markdown`.

In paragraph, list and table text, ```code``` spans become ``<code>``; everything else is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from polymodal.report.blocks import (
    Block,
    BulletList,
    Code,
    Details,
    Heading,
    Image,
    Paragraph,
    Table,
    anchor,
)
from polymodal.report.plots import png_to_data_uri

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""Content-Security-Policy of every page: inline styles and ``data:`` images, nothing else."""

CSS = """
:root { color-scheme: light; --line: #d0d7de; --muted: #57606a; --accent: #0969da; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0 auto; padding: 24px 32px 64px; max-width: 1200px; }
h1 { font-size: 28px; border-bottom: 1px solid var(--line); padding-bottom: 8px; }
h2 { font-size: 22px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 40px; }
h3 { font-size: 17px; margin-top: 28px; }
h4 { font-size: 15px; margin-top: 20px; }
nav.toc { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px;
          padding: 8px 16px; display: inline-block; }
nav.toc ul { margin: 4px 0; padding-left: 20px; }
a { color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; margin: 12px 0; font-size: 14px;
        font-variant-numeric: tabular-nums; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; }
td { white-space: nowrap; }
th { background: #f6f8fa; vertical-align: bottom; }
tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; }
figure { margin: 12px 0; display: inline-block; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
code { background: #eff1f3; border-radius: 4px; padding: 1px 4px; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px;
      overflow-x: auto; font-size: 12px; line-height: 1.4; }
pre code { background: none; padding: 0; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--accent); }
p.note { color: var(--muted); font-size: 13px; }
"""

_CODE_SPAN = re.compile(r"`([^`]+)`")
_NUMBER = re.compile(r"^[+-−]?[\d.,]+(?:[eE][+-]?\d+)?\s*[kMG%]?(?:\s*±\s*[\d.]+)?( \*)?$")


def inline(text: str) -> str:
    """Escaped text with ```code``` spans as ``<code>``."""
    parts = _CODE_SPAN.split(text)  # even: text, odd: code
    return "".join(
        f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
    )


def _cell(tag: str, text: str) -> str:
    numeric = tag == "td" and bool(_NUMBER.match(text.strip()))
    attribute = ' class="num"' if numeric else ""
    return f"<{tag}{attribute}>{inline(text)}</{tag}>"


def _block_html(block: Block, ids: dict[str, int]) -> str:
    if isinstance(block, Heading):
        base = anchor(block.text)
        ids[base] = ids.get(base, 0) + 1
        ident = base if ids[base] == 1 else f"{base}-{ids[base]}"
        level = min(max(block.level, 1), 6)
        return f'<h{level} id="{ident}">{inline(block.text)}</h{level}>'
    if isinstance(block, Paragraph):
        attribute = ' class="note"' if block.note else ""
        return f"<p{attribute}>{inline(block.text)}</p>"
    if isinstance(block, BulletList):
        items = "".join(f"<li>{inline(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        head = "".join(_cell("th", h) for h in block.header)
        body = "".join(
            "<tr>" + "".join(_cell("td", c) for c in row) + "</tr>" for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Image):
        caption = f"<figcaption>{inline(block.caption)}</figcaption>" if block.caption else ""
        src = png_to_data_uri(block.path)
        alt = html.escape(block.alt, quote=True)
        return f'<figure><img src="{src}" alt="{alt}" decoding="sync">{caption}</figure>'
    if isinstance(block, Code):
        language = f' class="language-{html.escape(block.language)}"' if block.language else ""
        return f"<pre><code{language}>{html.escape(block.text)}</code></pre>"
    if isinstance(block, Details):
        inner = "\n".join(_block_html(b, ids) for b in block.blocks)
        return f"<details><summary>{inline(block.summary)}</summary>\n{inner}\n</details>"
    raise TypeError(f"not a report block: {type(block).__name__}")


def _toc(blocks: Sequence[Block]) -> str:
    seen: dict[str, int] = {}
    items = []
    for block in blocks:
        if isinstance(block, Heading):
            base = anchor(block.text)
            seen[base] = seen.get(base, 0) + 1
            if block.level == 2:
                ident = base if seen[base] == 1 else f"{base}-{seen[base]}"
                items.append(f'<li><a href="#{ident}">{inline(block.text)}</a></li>')
    return f'<nav class="toc"><b>Contents</b><ul>{"".join(items)}</ul></nav>' if items else ""


def render_html(title: str, blocks: Sequence[Block]) -> str:
    """A complete, self-contained HTML page of ``blocks``, with a table of contents of the
    level-2 sections before the first of them."""
    ids: dict[str, int] = {}
    body = []
    toc_done = False
    for block in blocks:
        if not toc_done and isinstance(block, Heading) and block.level == 2:
            toc_done = True
            body.append(_toc(blocks))
        body.append(_block_html(block, ids))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="polymodal">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(b for b in body if b)
        + "\n</body>\n</html>\n"
    )
