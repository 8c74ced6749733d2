"""docs/python.md runs: its Python blocks, in order, are one script (train, evaluate, a
registered dataset of one's own trained and evaluated to a stated accuracy)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_the_python_page_runs(tmp_path):
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    assert any("@DATASETS.register" in b for b in blocks)  # the worked custom dataset
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "tones: test accuracy" in done.stdout
    assert (tmp_path / "runs" / "tones" / "metrics.json").is_file()
    assert not re.search(r"USDT|Tip:|GPU available", done.stdout + done.stderr)
