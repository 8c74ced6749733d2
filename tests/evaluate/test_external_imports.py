"""`polymodal evaluate PREDS.csv` evaluates a file made elsewhere without Lightning or the
training code: run in a fresh interpreter, the command leaves neither in ``sys.modules``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = """
import json, sys
from polymodal.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    if stop.code:
        raise
heavy = ("lightning", "pytorch_lightning", "polymodal.train")
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
print("LOADED=" + json.dumps(loaded))
"""


def _heavy_modules_loaded(code: str, *args: str) -> list[str]:
    """Run ``code`` in a fresh interpreter on this checkout's sources; the heavy modules it
    left in ``sys.modules`` (its last line ``LOADED=[...]``)."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED="))
    return json.loads(line.removeprefix("LOADED="))


def test_evaluating_a_predictions_file_imports_neither_lightning_nor_training(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    scores = rng.dirichlet(np.ones(3), size=30)
    frame = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(30)],
            "target": rng.integers(0, 3, 30),
            "prediction": scores.argmax(1),
            "scores": [json.dumps(row.tolist()) for row in scores],
        }
    )
    frame.to_csv(tmp_path / "preds.csv", index=False)
    out = tmp_path / "out"
    args = ["evaluate", str(tmp_path / "preds.csv"), "--task", "multiclass", "--out", str(out)]
    assert _heavy_modules_loaded(PROBE, *args, "--bootstrap", "50") == []
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    expected = accuracy_score(frame["target"], frame["prediction"])
    assert metrics["accuracy"] == pytest.approx(expected)


def test_the_probe_sees_the_training_code_when_it_is_imported() -> None:
    """The check above can fail: the same probe reports Lightning and polymodal.train."""
    code = PROBE.replace("from polymodal.cli.main import main", "import polymodal.train.run")
    loaded = _heavy_modules_loaded(code.replace("    main(sys.argv[1:])", "    pass"))
    assert "lightning" in loaded
    assert "polymodal.train.run" in loaded
