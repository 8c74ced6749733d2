"""Plugins: a user's own components, registered from modules outside polymodal (--plugin,
``plugins:`` in a config, the ``polymodal.plugins`` entry points of installed packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from safetensors import safe_open

from polymodal.config import config_to_dict, parse_config
from polymodal.plugins import PluginError, load_entry_points, load_plugin
from polymodal.registry import ENCODERS, FUSIONS

EXE = str(Path(sys.executable).with_name("polymodal"))
SRC = str(Path(__file__).resolve().parents[1] / "src")

# An encoder and a fusion of a user's own, in a module polymodal knows nothing about.
PLUGIN = '''
import torch
from torch import nn

from polymodal.data.schema import Features
from polymodal.encoders.base import Encoder
from polymodal.fusion.base import Fusion
from polymodal.registry import ENCODERS, FUSIONS


@ENCODERS.register("{prefix}flat_linear")
class FlatLinear(Encoder):
    """Flatten, then one linear layer."""

    def __init__(self, spec, out_dim: int = 8):
        super().__init__(spec)
        self.out_dim = out_dim
        self.proj = nn.Linear(int(torch.tensor(spec.shape).prod()), out_dim)

    def forward(self, batch):
        pooled = self.proj(batch.values.flatten(1).float())  # [B, D]
        mask = torch.zeros(pooled.shape[0], 1, dtype=torch.bool, device=pooled.device)
        return Features(pooled.unsqueeze(1), pooled, mask, batch.present)


@FUSIONS.register("{prefix}first_only")
class FirstOnly(Fusion):
    """The first modality's features."""

    def __init__(self, in_dims, task):
        super().__init__(in_dims, task)
        self.out_dim = in_dims[self.modalities[0]]

    def forward(self, features):
        return features[self.modalities[0]].pooled
'''

CONFIG = """
plugins: [my_plugins]
seed: 1
data: {name: synthetic, task: redundant, n: 120, image_size: 8}
model:
  encoders: {image: {name: flat_linear, out_dim: 6}}
  fusion: first_only
train: {max_epochs: 1, batch_size: 32, progress: false}
"""


def _env(*paths: str | Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, paths), SRC])}


def _cli(*args: str, cwd: Path, paths: tuple[str | Path, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [EXE, *args], cwd=cwd, env=_env(*paths), capture_output=True, text=True, timeout=300
    )


def test_a_config_naming_a_plugin_trains_and_evaluates_through_the_cli(tmp_path):
    (tmp_path / "my_plugins.py").write_text(PLUGIN.format(prefix=""))  # found in the cwd
    (tmp_path / "exp.yaml").write_text(CONFIG)
    done = _cli("train", "exp.yaml", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with safe_open(tmp_path / "run" / "checkpoint" / "model.safetensors", "pt") as weights:
        assert weights.get_tensor("encoders.image.proj.weight").shape == (6, 64)  # 1 x 8 x 8
        assert not any(k.startswith("fusion.") for k in weights.keys())  # noqa: SIM118
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "plugins:\n- my_plugins" in saved
    # the saved config names the plugin: evaluating needs no --plugin
    done = _cli("evaluate", "run", "--bootstrap", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["metrics"]["accuracy"] <= 1.0


def test_plugin_option_before_or_after_the_subcommand(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "opt_plugins.py").write_text(PLUGIN.format(prefix="opt_"))
    for args in (["--plugin", "opt_plugins", "components"], ["components", "--plugin=opt_plugins"]):
        done = _cli(*args, cwd=tmp_path, paths=(tmp_path / "lib",))
        assert done.returncode == 0, done.stderr
        assert "opt_flat_linear" in done.stdout
        assert "opt_first_only" in done.stdout
    missing = _cli("--plugin", "no_such_plugin_xyz", "components", cwd=tmp_path)
    assert missing.returncode == 2
    assert "plugin 'no_such_plugin_xyz' not found" in missing.stderr
    assert "--plugin" in missing.stderr
    assert "Traceback" not in missing.stderr


def _fake_distribution(site: Path, module: str, lines: list[str]) -> None:
    """An installed distribution as importlib.metadata sees one: a *.dist-info folder."""
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[polymodal.plugins]\n" + "\n".join(lines) + "\n")


def test_installed_entry_points_load_when_the_command_starts(tmp_path):
    site = tmp_path / "site"
    _fake_distribution(site, "fake_pm", ["enc = fake_pm_mod", "fus = fake_pm_mod:register"])
    (site / "fake_pm_mod.py").write_text(
        textwrap.dedent(
            """
            from polymodal.registry import ENCODERS, FUSIONS
            from polymodal.encoders.scratch import MLPEncoder
            from polymodal.fusion.sum import SumFusion

            ENCODERS.register("ep_encoder")(MLPEncoder)

            def register():
                FUSIONS.register("ep_fusion")(SumFusion)
            """
        )
    )
    done = _cli("components", cwd=tmp_path, paths=(site,))
    assert done.returncode == 0, done.stderr
    assert "ep_encoder" in done.stdout  # a module entry point: imported
    assert "ep_fusion" in done.stdout  # a function entry point: called

    broken = tmp_path / "broken"
    _fake_distribution(broken, "broken_pm", ["bad = broken_pm_mod"])
    (broken / "broken_pm_mod.py").write_text("raise RuntimeError('boom')\n")
    done = _cli("components", cwd=tmp_path, paths=(broken,))
    assert done.returncode == 2
    assert "entry point bad = broken_pm_mod" in done.stderr
    assert "broken_pm" in done.stderr
    assert "RuntimeError: boom" in done.stderr


def test_entry_points_of_a_group_in_process(tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "inproc_pm-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: inproc_pm\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[test.polymodal.group]\nb = inproc_pm_b\na = inproc_pm_a\n"
    )
    (site / "inproc_pm_a.py").write_text(PLUGIN.format(prefix="inproc_"))
    (site / "inproc_pm_b.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(site))
    assert load_entry_points(group="test.polymodal.group") == ["a", "b"]
    assert "inproc_flat_linear" in ENCODERS
    assert "inproc_first_only" in FUSIONS


def _write(tmp_path: Path, monkeypatch, name: str, text: str) -> None:
    (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_plugins_in_a_config_are_loaded_before_it_is_checked(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, "cfg_plugins", PLUGIN.format(prefix="cfg_"))
    raw = {
        "plugins": ["cfg_plugins"],
        "model": {"encoders": {"image": "cfg_flat_linear"}, "fusion": "cfg_first_only"},
    }
    config = parse_config(raw)
    assert config.plugins == ["cfg_plugins"]
    assert config_to_dict(config)["plugins"] == ["cfg_plugins"]
    plain = parse_config({"model": {"encoders": {"image": "cnn"}}})
    assert "plugins" not in config_to_dict(plain)  # configs saved before plugins: unchanged


def test_a_bench_spec_passes_its_plugins_to_every_cell(tmp_path, monkeypatch):
    from polymodal.bench.cells import expand_cells, parse_spec

    _write(tmp_path, monkeypatch, "bench_plugins", PLUGIN.format(prefix="bench_"))
    spec = parse_spec(
        {
            "plugins": ["bench_plugins"],
            "datasets": [{"name": "synthetic", "task": "redundant", "n": 100}],
            "models": {"mine": {"encoders": {"image": "bench_flat_linear"}}},
            "seeds": [0, 1],
        }
    )
    cells = expand_cells(spec)
    assert [c.config.plugins for c in cells] == [["bench_plugins"]] * 2
    assert cells[0].config.model.encoders["image"].name == "bench_flat_linear"


def test_import_errors_name_the_plugin(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, "raising_plugin", "raise ValueError('bad weights path')\n")
    _write(tmp_path, monkeypatch, "needy_plugin", "import not_installed_dependency_xyz\n")
    _write(
        tmp_path,
        monkeypatch,
        "clashing_plugin",
        "from polymodal.registry import FUSIONS\nFUSIONS.names()\n"
        "FUSIONS.register('concat')(lambda **kw: None)\n",
    )
    with pytest.raises(PluginError, match=r"'raising_plugin' failed .*ValueError: bad weights"):
        load_plugin("raising_plugin", where="exp.yaml: plugins")
    with pytest.raises(PluginError, match=r"needy_plugin' failed .*not_installed_dependency_xyz"):
        load_plugin("needy_plugin")
    with pytest.raises(PluginError, match="fusion 'concat' is already registered"):
        load_plugin("clashing_plugin")
    with pytest.raises(PluginError, match="not found") as missing:
        load_plugin("absent_plugin_xyz", where="exp.yaml: plugins")
    assert missing.value.where == "exp.yaml: plugins"
    assert "PYTHONPATH" in (missing.value.fix or "")
    with pytest.raises(PluginError, match="not a module name"):
        load_plugin("my_plugins.py")
