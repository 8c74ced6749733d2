"""The examples block: deterministic samples, thumbnails (a file link in Markdown, a data URL in
HTML), references and outputs side by side, and the page checked in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image as PILImage

from chromium_check import CHROMIUM, check_page, run_chromium
from polymodal.evaluate.generation.baselines import write_predictions
from polymodal.evaluate.generation.examples import examples_from_files
from polymodal.report.blocks import Heading, Image, Table
from polymodal.report.examples import example_blocks, pick_examples
from polymodal.report.html import render_html
from polymodal.report.markdown import render_markdown

FLICKR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "flickr8k-1k"


@pytest.fixture
def photos(tmp_path) -> list[Path]:
    """Three real Flickr8k-1k photos, or (absent) three drawn ones of Flickr's sizes."""
    found = sorted((FLICKR / "images").glob("*.jpg"))[:3]
    if found:
        return found
    made = []
    for i, size in enumerate(((500, 375), (333, 500), (200, 150))):
        path = tmp_path / f"p{i}.jpg"
        PILImage.new("RGB", size, (40 * i, 120, 200)).save(path)
        made.append(path)
    return made


def _outputs(ids):
    return {
        "nearest_neighbour": {i: f"a dog runs through the grass near {i}" for i in ids},
        "constant": {i: "a man in a red shirt ." for i in ids[:-1]} | {ids[-1]: "  "},
    }


def test_samples_are_chosen_by_id_hash_whatever_the_order() -> None:
    ids = [f"s{i}" for i in range(50)]
    refs = {i: [f"ref of {i}"] for i in ids}
    outputs = {"a": {i: "x" for i in ids}, "b": {i: "y" for i in ids[10:]}}
    first = [e.id for e in pick_examples(outputs, refs, count=5)]
    reordered = {"a": dict(reversed(outputs["a"].items())), "b": outputs["b"]}
    again = [e.id for e in pick_examples(reordered, dict(reversed(refs.items())), count=5)]
    assert first == again
    assert set(first) <= set(ids[10:])  # only ids every model answered
    expected = sorted(ids[10:], key=lambda i: hashlib.sha256(i.encode()).hexdigest())[:5]
    assert first == expected
    example = pick_examples(outputs, refs, count=1)[0]
    assert example.outputs == (("a", "x"), ("b", "y"))  # the models' order, side by side


def test_blocks_markdown_links_the_thumbnail_and_html_embeds_it(photos, tmp_path) -> None:
    ids = [p.name for p in photos]
    refs = {i: [f"first reference of {i}", "second | reference"] for i in ids}
    examples = pick_examples(_outputs(ids), refs, dict(zip(ids, photos, strict=True)), count=3)
    blocks = example_blocks(examples, tmp_path)
    assert isinstance(blocks[0], Heading)
    images = [b for b in blocks if isinstance(b, Image)]
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(images) == len(tables) == 3
    for image in images:
        with PILImage.open(image.path) as thumb:
            assert max(thumb.size) == 192  # resized, aspect kept
            assert thumb.format == "PNG"
    last = next(e for e in examples if e.id == ids[-1])
    rows = tables[[e.id for e in examples].index(last.id)].rows
    assert rows[0] == ("reference 1", f"first reference of {last.id}")
    assert rows[-1] == ("constant", "(empty)")  # an empty output is shown, not dropped
    markdown = render_markdown(blocks, tmp_path)
    assert f"](examples/{images[0].path.name})" in markdown  # a file link, relative
    page = render_html("examples", blocks)
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 3
    assert base64.b64decode(uris[0]) == images[0].path.read_bytes()
    assert "second | reference" in page
    assert example_blocks([], tmp_path) == []


def test_examples_from_prediction_files(photos, tmp_path) -> None:
    ids = [p.name for p in photos]
    refs = [[f"ref {i}"] for i in ids]
    files = {}
    for model, outputs in _outputs(ids).items():
        hyps = [outputs[i] for i in ids]
        files[model] = write_predictions(tmp_path / f"{model}.jsonl", ids, hyps, refs)
    examples = examples_from_files(files, image_root=photos[0].parent, count=2)
    assert len(examples) == 2
    assert all(e.image is not None and e.image.is_file() for e in examples)
    assert [m for m, _ in examples[0].outputs] == ["nearest_neighbour", "constant"]
    assert examples[0].references == (f"ref {examples[0].id}",)
    no_photo = examples_from_files(files, count=2)
    assert [e.image for e in no_photo] == [None, None]


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_examples_page_renders_in_headless_chromium(photos, tmp_path) -> None:
    ids = [p.name for p in photos]
    refs = {i: [f"reference of {i}", "a second reference"] for i in ids}
    outputs = _outputs(ids)
    examples = pick_examples(outputs, refs, dict(zip(ids, photos, strict=True)), count=3)
    page = render_html("examples", [Heading("Report", 1), *example_blocks(examples, tmp_path)])
    shot = tmp_path / "shot.png"
    done = run_chromium(_write(tmp_path / "page.html", page), tmp_path / "p1",
                        "--window-size=1000,1400", f"--screenshot={shot}")  # fmt: skip
    assert [line for line in done.stderr.splitlines() if ":CONSOLE" in line] == []
    with PILImage.open(io.BytesIO(shot.read_bytes())) as image:
        assert image.convert("L").getextrema()[1] - image.convert("L").getextrema()[0] > 50
    check = check_page(page, tmp_path / "check")
    assert check["images"] == check["decoded"] == 3  # every thumbnail decoded
    assert max(check["widths"]) == 192
    assert check["resources"] == []  # nothing fetched: the photos are data URLs
    for example in examples:
        assert example.references[0] in check["text"]
        for _, output in example.outputs:
            assert (output.strip() or "(empty)") in check["text"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
