"""Only polymodal's own messages reach the console: no Lightning tips or info lines, no
warnings polymodal handles itself, no profiler lines (``USDT: ... profiler_start``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from polymodal.console import filtered_native_stderr, quiet_lightning

EXE = str(Path(sys.executable).with_name("polymodal"))
SRC = str(Path(__file__).resolve().parents[2] / "src")

CONFIG = """
seed: 1
data: {name: synthetic, task: redundant, n: 120, image_size: 8, val_fraction: 0.0}
model:
  encoders: {image: {name: cnn, out_dim: 8, channels: 4}}
train: {max_epochs: 2, batch_size: 32, progress: false}
"""

NOISE = re.compile(
    r"USDT|STAGE:|profiler_start|profiler_stop|Tip:|💡|litlogger|litmodels|GPU available|"
    r"TPU available|HPU available|val_dataloader|LeafSpec|does not have many workers|"
    r"Trainer\.fit|Warning|warn\(",
)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_train_and_evaluate_with_efficiency_print_only_polymodal_lines(tmp_path):
    (tmp_path / "exp.yaml").write_text(CONFIG)
    trained = _cli("train", "exp.yaml", "--out", "run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    evaluated = _cli("evaluate", "run", "--efficiency", "--bootstrap", "0", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    for done in (trained, evaluated):
        console = done.stdout + done.stderr
        assert not NOISE.search(console), console
    # no validation split: polymodal states the rule that applies, once
    assert trained.stderr.count("the last epoch's weights are kept") == 1
    assert trained.stdout.startswith("trained 2 epochs")
    assert "peak_memory" not in evaluated.stderr
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_native_stderr_is_held_back_and_only_profiler_lines_dropped(capfd):
    with filtered_native_stderr():
        os.write(2, b"USDT:2026-12-06 00:16:12 8963:8963 Sync.cpp:52] profiler_start\n")
        os.write(2, b"a real problem\n")
        os.write(2, b"STAGE:2026-12-06 00:16:12 8963:8963 Sync.cpp:60] Completed Stage\n")
    assert capfd.readouterr().err == "a real problem\n"


def test_quiet_lightning_restores_what_it_changes():
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401  (sets its loggers' levels)

    logger = logging.getLogger("lightning.pytorch")
    level, filters = logger.level, list(warnings.filters)
    with quiet_lightning():
        assert logger.getEffectiveLevel() == logging.WARNING
    assert logger.level == level
    assert warnings.filters == filters
