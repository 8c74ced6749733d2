"""Benchmark and run reports: Markdown structure snapshot, self-contained HTML opened in headless
Chromium (no console errors, the leaderboard and every plot shown), the two renderings agreeing,
and the `report` command."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

from polymodal.bench.cells import parse_spec
from polymodal.bench.report import run_and_report
from polymodal.cli.main import app

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
TINY = {"name": "cnn", "out_dim": 8, "channels": 4, "num_blocks": 2}
SPEC = {
    "name": "tiny-report",
    "datasets": [{"name": "synthetic", "task": "redundant", "n": 200}],
    "models": {
        "image-only": {"encoders": {"image": TINY}},
        "concat": {
            "encoders": {
                "image": TINY,
                "audio": {"name": "audio_conv", "out_dim": 8, "channels": 8, "num_layers": 1},
            },
        },
    },
    "seeds": [0, 1],
    "train": {"max_epochs": 1, "batch_size": 32, "lr": 0.01},
    "eval": {"resamples": 50, "robustness": True, "contribution": True, "efficiency": True},
    "leaderboard": {"resamples": 50},
}

EXPECTED_STRUCTURE = """\
# Benchmark tiny-report
## Leaderboard
### synthetic-redundant (multiclass): accuracy, higher is better
| rank | model | seeds | accuracy | N% CI | Δ vs best | p | p (Holm) | params | FLOPs/sample \
| latency pN bsN (ms) | train (s) | rel. robustness | weights |
## Efficiency and accuracy
### synthetic-redundant
## Robustness
### synthetic-redundant
| model | modality | perturbation | clean | worst | relative robustness |
## Modality contribution
### synthetic-redundant (accuracy)
| model | modality | Shapley value | leave-one-out |
## Calibration
### synthetic-redundant
| model | seeds | ECE (mean) | min | max |
## Models
### synthetic-redundant / image-only
| metric | mean ± std over seeds | N% CI (t over seeds) | per seed [N% bootstrap CI] |
### synthetic-redundant / concat
| metric | mean ± std over seeds | N% CI (t over seeds) | per seed [N% bootstrap CI] |
## Runs
| cell | status | starts | config hash | time (s) | run directory |
## Environment
| python | torch | lightning | platform | host | git revision | runs |
"""


def structure(markdown: str) -> str:
    """Headings and table headers of a Markdown text, outside code blocks, numbers masked."""
    lines = markdown.splitlines()
    kept, in_code = [], False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (
            line.startswith("#") or (i + 1 < len(lines) and lines[i + 1].startswith("|---"))
        ):
            kept.append(re.sub(r"\d+(?:\.\d+)?", "N", line))
    return "\n".join(kept) + "\n"


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_and_report(parse_spec(SPEC), path)
    finally:
        torch.set_num_threads(threads)
    return path


def test_markdown_structure_snapshot(bench_dir):
    markdown = (bench_dir / "report.md").read_text()
    assert structure(markdown) == EXPECTED_STRUCTURE
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):  # every image link resolves
        assert (bench_dir / link).is_file(), link
    assert "plots/efficiency_synthetic-redundant.png" in markdown
    assert "plots/robustness_synthetic-redundant.png" in markdown
    assert markdown.count("<details><summary>") == 4  # config and env of each run
    assert "Pareto front" in markdown


def test_markdown_and_html_carry_the_same_headings_and_numbers(bench_dir, same_report):
    headings, numbers = same_report(
        (bench_dir / "report.md").read_text(), (bench_dir / "report.html").read_text()
    )
    assert [text for level, text in headings if level == 2] == [
        "Leaderboard",
        "Efficiency and accuracy",
        "Robustness",
        "Modality contribution",
        "Calibration",
        "Models",
        "Runs",
        "Environment",
    ]
    assert len(numbers) > 100  # the tables' numbers, not only the headings'


def test_leaderboard_in_the_report_matches_the_store(bench_dir):
    from polymodal.bench.leaderboard import build_leaderboard

    board = build_leaderboard(bench_dir)
    markdown = (bench_dir / "report.md").read_text()
    assert board.to_markdown().split("\n\n")[1] in markdown  # the same table
    assert {r.model for r in board.rows} == {"image-only", "concat"}
    assert all(r.params is not None and r.relative_robustness is not None for r in board.rows)


CHECK_SCRIPT = """window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var heading = document.getElementById("leaderboard");
  var table = heading ? heading.parentNode.querySelector("h2#leaderboard ~ table") : null;
  var out = {
    images: images.length,
    decoded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    leaderboard: table ? table.innerText : "",
    resources: performance.getEntriesByType("resource").map(function (e) { return e.name; })
  };
  var pre = document.createElement("pre");
  pre.id = "polymodal-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});"""


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_html_report_renders_in_headless_chromium(bench_dir, tmp_path):
    page = bench_dir / "report.html"
    html = page.read_text()
    n_images = html.count("<img ")
    assert n_images == 2 + 2 * 4  # two benchmark plots, four plots of each model
    shot = tmp_path / "report.png"
    done = chromium(page, tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={shot}")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # no error, no blocked request (CSP), no log at all
    with PILImage.open(shot) as image:
        assert image.size == (1280, 2000)
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.std() > 10  # not a blank page
    if os.environ.get("POLYMODAL_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "report-screenshot.png")

    # a copy with a check script, allowed by its hash; the report's own policy stays in force
    digest = base64.b64encode(hashlib.sha256(CHECK_SCRIPT.encode()).digest()).decode()
    checked = html.replace(
        "style-src 'unsafe-inline'", f"style-src 'unsafe-inline'; script-src 'sha256-{digest}'", 1
    ).replace("</body>", f"<script>{CHECK_SCRIPT}</script>\n</body>", 1)
    copy = tmp_path / "check.html"
    copy.write_text(checked)
    done = chromium(copy, tmp_path / "profile2", "--dump-dom")
    found = re.search(r'<pre id="polymodal-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["images"] == n_images
    assert check["decoded"] == n_images  # every plot decoded, with a width
    assert check["resources"] == []  # nothing fetched
    assert "image-only" in check["leaderboard"]
    assert "concat" in check["leaderboard"]
    assert "best" in check["leaderboard"]
    assert [line for line in done.stderr.splitlines() if ":CONSOLE" in line] == []


def test_report_command_for_a_run_and_a_benchmark(bench_dir, same_report):
    runner = CliRunner()
    run_dir = next(iter(sorted((bench_dir / "runs").iterdir())))
    (run_dir / "report.md").unlink()
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert f"report (html): {run_dir / 'report.html'}" in result.output
    assert (run_dir / "report.md").read_text().startswith(f"# {run_dir.name}")
    html = (run_dir / "report.html").read_text()
    same_report((run_dir / "report.md").read_text(), html)
    assert html.count('<img src="data:image/png;base64,') == 4
    assert '<h2 id="robustness-accuracy">' in html
    assert "config.yaml" in html
    assert "env.json" in html
    result = runner.invoke(app, ["report", str(bench_dir)])
    assert result.exit_code == 0, result.output
    assert f"report (markdown): {bench_dir / 'report.md'}" in result.output
    result = runner.invoke(app, ["report", str(bench_dir / "plots")])
    assert result.exit_code == 2
    assert "neither a benchmark directory" in result.output
