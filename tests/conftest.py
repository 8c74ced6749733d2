"""Suite-wide settings: one torch thread, so tiny models do not pay for thread contention on
two-core machines and timings of one test do not depend on the others; and the outline of a
report (headings and numbers), to check that its Markdown and HTML agree."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------
# Reports: what a reader sees of report.md and of report.html, to check that they agree.

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")  # alt text and link: attributes in HTML
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def markdown_outline(markdown: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Headings ``(level, text)`` and every number, in order, of a Markdown text (headings are
    lines starting with ``#`` outside code blocks; image links do not count)."""
    headings, text, in_code = [], [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code and (match := re.match(r"(#{1,6}) (.*)", line)):
            headings.append((len(match.group(1)), match.group(2).replace("`", "")))
        text.append(_MD_IMAGE.sub(" ", line))
    return headings, _NUMBER.findall("\n".join(text))


class _Text(HTMLParser):
    """Visible text of a page body (not its title, style or table of contents), and headings."""

    SKIPPED = frozenset({"style", "title", "nav", "script"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.headings: list[tuple[int, str]] = []
        self._skip = 0
        self._heading: tuple[int, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._skip += tag in self.SKIPPED
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = (int(tag[1]), [])

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in self.SKIPPED
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append((self._heading[0], "".join(self._heading[1])))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.parts.append(data)
        if self._heading is not None:
            self._heading[1].append(data)


def html_outline(page: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Headings ``(level, text)`` and every number of the visible text of an HTML page."""
    parser = _Text()
    parser.feed(page)
    return parser.headings, _NUMBER.findall(" ".join(parser.parts))


@pytest.fixture
def same_report():
    """``check(markdown, html)``: both carry the same headings and the same numbers in the same
    order; returns the Markdown's outline."""

    def check(markdown: str, page: str) -> tuple[list[tuple[int, str]], list[str]]:
        md_headings, md_numbers = markdown_outline(markdown)
        html_headings, html_numbers = html_outline(page)
        assert md_headings == html_headings
        assert md_numbers == html_numbers
        return md_headings, md_numbers

    return check


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the tiny Llama of ``tests/tiny_lm.py`` and its tokenizer (no pad
    token): the decoder, LM-source and LM-embedding tests load it."""
    from tiny_lm import save_tiny_lm

    return save_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))
