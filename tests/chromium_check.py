"""Open an HTML report in headless Chromium (Debian's, at /usr/bin/chromium) and read back what
the page holds: images decoded, their widths, the visible text, and every resource fetched.

The page's Content-Security-Policy allows no script; :func:`check_page` adds one checking
script, allowed by its SHA-256, and reads its result from the dumped DOM (the same method as
tests/report/test_examples.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")

CHECK = """window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var out = {
    images: images.length,
    decoded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    widths: images.map(function (i) { return i.naturalWidth; }),
    text: document.body.innerText,
    resources: performance.getEntriesByType("resource").map(function (e) { return e.name; })
  };
  var pre = document.createElement("pre");
  pre.id = "polymodal-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});"""


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``page`` with no network services and a fresh ``profile``."""
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def check_page(html: str, work: Path) -> dict[str, Any]:
    """What Chromium sees in ``html`` (written under ``work``): ``images``, ``decoded``,
    ``widths``, ``text`` (the page's visible text) and ``resources`` (URLs fetched)."""
    digest = base64.b64encode(hashlib.sha256(CHECK.encode()).digest()).decode()
    checked = html.replace(
        "style-src 'unsafe-inline'", f"style-src 'unsafe-inline'; script-src 'sha256-{digest}'", 1
    ).replace("</body>", f"<script>{CHECK}</script>\n</body>", 1)
    work.mkdir(parents=True, exist_ok=True)
    page = work / "check.html"
    page.write_text(checked, encoding="utf-8")
    done = run_chromium(page, work / "profile", "--dump-dom")
    found = re.search(r'<pre id="polymodal-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    raw = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(raw.replace("&amp;", "&"))
