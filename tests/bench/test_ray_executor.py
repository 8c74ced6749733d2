"""`polymodal bench --executor ray` on a two-node Ray cluster started on this machine, with a
PostgreSQL store: one worker node is killed (SIGKILL, every process of it) in the middle of its
cell; the other node finishes its own cell and then the killed one, which resumes from its last
checkpoint. Every cell ends done exactly once. Plus the executor registry and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import polymodal
from polymodal.bench.executors import make_executor
from polymodal.bench.runner import LocalExecutor
from polymodal.bench.store import PostgresStore
from polymodal.errors import PolymodalError
from polymodal.rundir.codec import load_tree

SPEC = """
name: ray
datasets:
  - {name: synthetic, task: redundant, n: 300}
models:
  concat:
    encoders:
      image: {name: cnn, out_dim: 8, channels: 4, num_blocks: 2}
      audio: {name: audio_conv, out_dim: 8, channels: 8, num_layers: 1}
    fusion: concat
seeds: [0, 1]
resources: {cpus: 1}
train: {max_epochs: 8, batch_size: 16, lr: 0.01}
eval: {resamples: 20}
leaderboard: {resamples: 20}
"""


def test_executor_names_and_errors():
    assert isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(PolymodalError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(PolymodalError, match="local executor has none"):
        make_executor("local", "127.0.0.1:6379")


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    from polymodal.bench.executors.ray_executor import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(PolymodalError, match="needs Ray") as caught:
        import_ray()
    assert "polymodal[ray]" in caught.value.fix


def _epoch(run_dir: Path) -> int:
    try:
        return int(load_tree(run_dir / "checkpoint" / "last")["epoch"])
    except Exception:
        return -1


def _victim(cluster, url: str, bench_dir: Path) -> tuple[str, Path] | None:
    """The cell running on the worker node (node 1) once it has a checkpoint of epoch 1."""
    with PostgresStore(url) as store:
        running = store.cells(status="running")
    node = cluster.node_pids(1)
    for cell in running:
        pid = int(cell.owner.split(":")[1])
        run_dir = bench_dir / cell.run_path
        if pid in node and _epoch(run_dir) >= 1:
            return cell.key, run_dir
    return None


@pytest.mark.slow
def test_a_killed_nodes_cell_is_finished_by_the_other_node(pg_url, tmp_path_factory):
    pytest.importorskip(
        "ray", reason="the ray extra is not installed: pip install 'polymodal[ray]'"
    )
    pytest.importorskip("psutil", reason="psutil (a dependency of ray) is missing")
    from polymodal.bench.executors.ray_cluster import LocalRayCluster

    root = tmp_path_factory.mktemp("ray")  # short: Ray's socket paths must fit in 107 bytes
    spec = root / "spec.yaml"
    spec.write_text(SPEC)
    bench_dir = root / "bench"
    src = str(Path(polymodal.__file__).parents[1])
    env = {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with LocalRayCluster(root / "r", nodes=2, num_cpus=1, env=env) as cluster:
        script = Path(sys.executable).with_name("polymodal")
        command = [str(script), "bench", str(spec), "--out", str(bench_dir), "--store", pg_url,
                   "--executor", "ray", "--address", cluster.address]  # fmt: skip
        log = (root / "driver.log").open("w")
        driver = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=cluster.env, cwd=root
        )
        try:
            deadline = time.monotonic() + 300
            while (victim := _victim(cluster, pg_url, bench_dir)) is None:
                assert driver.poll() is None, (root / "driver.log").read_text()
                assert time.monotonic() < deadline, "no cell reached epoch 1 on the worker node"
                time.sleep(0.2)
            key, run_dir = victim
            cluster.kill_node(1)
            killed_at = _epoch(run_dir)
            history = (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
            driver.wait(timeout=400)
        finally:
            if driver.poll() is None:
                driver.kill()
            log.close()
    output = (root / "driver.log").read_text()
    assert driver.returncode == 0, output
    with PostgresStore(pg_url) as store:
        cells = {c.key: c for c in store.cells()}
        assert store.integrity() == "ok"
    assert sorted(cells) == ["synthetic-redundant/concat/0", "synthetic-redundant/concat/1"]
    for other, cell in cells.items():
        assert (cell.status, cell.completions) == ("done", 1), other
        assert cell.starts == (2 if other == key else 1), other
    rows = (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 8
    kept = [json.loads(r)["epoch"] for r in history if json.loads(r)["epoch"] <= killed_at]
    assert rows[: len(kept)] == history[: len(kept)]  # resumed: earlier epochs kept as they were
    assert (bench_dir / "report.md").is_file()


def test_cli_rejects_an_unknown_executor_and_a_local_address(tmp_path):
    from typer.testing import CliRunner

    from polymodal.cli.main import app

    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "bench"
    bad = CliRunner().invoke(app, ["bench", str(spec), "--out", str(out), "--executor", "dask"])
    assert bad.exit_code != 0
    assert "unknown executor 'dask'" in bad.output
    local = CliRunner().invoke(app, ["bench", str(spec), "--out", str(out), "--address", "x:1"])
    assert local.exit_code != 0
    assert "--executor ray" in local.output
    assert not out.exists()  # refused before anything was planned


def test_spec_resources_are_validated():
    from polymodal.bench.cells import parse_spec
    from polymodal.errors import ConfigError

    raw = yaml.safe_load(SPEC)
    assert parse_spec(raw).resources.cpus == 1.0
    raw["resources"] = {"cpus": 0, "tpus": 1}
    with pytest.raises(ConfigError) as caught:
        parse_spec(raw)
    text = "\n".join(caught.value.problems)
    assert "resources.cpus" in text
    assert "resources.tpus" in text
