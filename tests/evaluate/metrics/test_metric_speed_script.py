"""benchmarks/metric_speed.py runs and its values equal the references' (no time is asserted:
timings belong to the machine; issue 12.9)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "metric_speed.py"


def test_metric_speed_script_prints_a_ratio_per_metric_with_agreeing_values(capsys):
    spec = importlib.util.spec_from_file_location("metric_speed", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--samples", "3000", "--repeats", "1"]) == 0  # 1: values differ
    out = capsys.readouterr().out
    for name in ("pearson", "mae", "spearman", "mse", "auroc", "log_loss"):
        assert f"\n{name} " in out, out
    assert "VALUES DIFFER" not in out
