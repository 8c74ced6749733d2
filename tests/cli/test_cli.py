"""The `polymodal` command end to end: train, evaluate, listings, and error handling."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.errors import ConfigError

runner = CliRunner()

CONFIG = """
seed: 1
data: {name: synthetic, task: redundant, n: 200}
model:
  encoders: {image: {name: cnn, out_dim: 16}}
train: {max_epochs: 2, batch_size: 32, progress: false}
"""


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_train_then_evaluate(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(CONFIG)
    run_dir = tmp_path / "run"
    result = invoke("train", str(config), "train.max_epochs=1", "--out", str(run_dir))
    assert result.exit_code == 0, result.output
    assert "trained 1 epochs" in result.output
    result = invoke("evaluate", str(run_dir))
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["split"] == "test"
    assert 0.0 <= metrics["metrics"]["accuracy"] <= 1.0
    assert "accuracy" in result.output
    assert (run_dir / "predictions.parquet").is_file()
    assert (run_dir / "report.md").read_text().startswith("# ")
    again = invoke("train", str(config), "--out", str(run_dir))
    assert again.exit_code == 2
    assert "--resume" in again.output


def test_bad_config_exits_2_with_one_message_and_no_traceback(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG.replace("max_epochs: 2", "max_epochs: zero"))
    result = invoke("train", str(config), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "bad.yaml" in result.output
    assert "train.max_epochs" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_debug_flag_lets_the_exception_through(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("model: {encoders: {image: nope}}\n")
    result = invoke("--debug", "train", str(config))
    assert isinstance(result.exception, ConfigError)


def test_evaluate_of_a_non_run_directory_is_a_clear_error(tmp_path):
    result = invoke("evaluate", str(tmp_path))
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_listings():
    result = invoke("datasets", "list")
    assert result.exit_code == 0
    for name in ("synthetic", "digits-av", "manifest"):
        assert name in result.output
    shown = invoke("datasets", "show", "synthetic")
    assert shown.exit_code == 0
    assert "task" in shown.output
    fusions = invoke("components", "fusion")
    assert fusions.exit_code == 0
    for name in ("concat", "late", "sum"):
        assert name in fusions.output
    unknown = invoke("components", "widget")
    assert unknown.exit_code == 2
    assert "encoder" in unknown.output
    missing = invoke("datasets", "show", "nope")
    assert missing.exit_code == 2
    assert "synthetic" in missing.output


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_light_commands_do_not_import_torch(argv):
    code = (
        "import sys; from polymodal.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("polymodal")
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "bench" in done.stdout


def test_components_preset_lists_every_preset_with_its_description():
    from polymodal.presets import preset_description, preset_names

    result = invoke("components", "preset")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "preset:"
    assert len(lines) == 1 + len(preset_names())
    for line, name in zip(lines[1:], preset_names(), strict=True):
        assert line.split() == [name, *preset_description(name).split()]


def test_components_preset_name_prints_its_yaml():
    from polymodal.presets import preset_text

    result = invoke("components", "preset", "tfn")
    assert result.exit_code == 0, result.output
    assert result.output == preset_text("tfn")
    unknown = invoke("components", "preset", "nope")
    assert unknown.exit_code == 2
    assert "unknown preset 'nope'" in unknown.output
    assert "early" in unknown.output


def test_components_preset_does_not_import_torch():
    code = (
        "import sys; from polymodal.cli.main import main\n"
        "for argv in (['components', 'preset'], ['components', 'preset', 'clip']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
