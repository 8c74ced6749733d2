"""benchmarks/screen_table.py: validation of the last three epochs and test accuracy per model,
checked against a hand computation on a made-up benchmark directory."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "screen_table.py"


def load_script():
    spec = importlib.util.spec_from_file_location("screen_table", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_cell(bench: Path, name: str, vals: list[float], test: float) -> None:
    run = bench / "runs" / name
    (run / "logs").mkdir(parents=True)
    lines = [json.dumps({"epoch": i, "val/accuracy": v}) for i, v in enumerate(vals)]
    lines.insert(1, json.dumps({"epoch": 0, "train/loss": 1.0}))  # a line without val
    (run / "logs" / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (run / "metrics.json").write_text(json.dumps({"metrics": {"accuracy": test}}))


def test_the_table_averages_the_last_three_validation_epochs(tmp_path, capsys):
    script = load_script()
    make_cell(tmp_path, "d__a__s0", [0.1, 0.5, 0.6, 0.7], 0.80)
    make_cell(tmp_path, "d__a__s1", [0.9, 0.9, 0.9], 0.90)
    (tmp_path / "runs" / "d__b__s0").mkdir()  # unfinished: no metrics.json, left out
    rows = script.rows(tmp_path)
    assert list(rows) == ["a"]
    assert rows["a"] == [(pytest.approx(0.6), 0.80), (pytest.approx(0.9), 0.90)]
    assert script.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| a | 2 | 75.0 ± 21.2 | 85.0 ± 7.1 |" in out
