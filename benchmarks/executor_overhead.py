"""Benchmark: per-cell overhead of the Ray executor against the local one, on a grid of small
cells.

The same spec (``--cells`` seeds of one tiny model on ``synthetic``, one epoch, no bootstrap) is
run twice into fresh benchmark directories with a SQLite store, timing
:func:`polymodal.bench.runner.run_benchmark` (no report): once with the local executor in this
process, once with the ray executor on a throwaway one-node Ray cluster with one CPU
(:class:`polymodal.bench.executors.ray_cluster.LocalRayCluster`), so both run one cell at a time
and the difference is the executor's own cost (task submission, scheduling, the worker's store
connection, its first imports, results back). One torch thread in both. Starting the cluster and
connecting the driver are timed apart (paid once per benchmark, not per cell). Both runs must
finish every cell once with the same metrics.

Run::

    .venv/bin/python benchmarks/executor_overhead.py [--cells 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import yaml

import polymodal
from polymodal.bench.cells import parse_spec
from polymodal.bench.executors.ray_cluster import LocalRayCluster
from polymodal.bench.executors.ray_executor import RayExecutor
from polymodal.bench.runner import BenchResult, LocalExecutor, run_benchmark

SPEC = """
name: overhead
datasets:
  - {name: synthetic, task: redundant, n: 120}
models:
  tiny:
    encoders: {image: {name: cnn, out_dim: 8, channels: 4, num_blocks: 1}}
train: {max_epochs: 1, batch_size: 32, lr: 0.01}
eval: {resamples: 0}
"""


def timed(spec, bench_dir: Path, executor) -> tuple[float, BenchResult]:
    start = time.perf_counter()
    result = run_benchmark(spec, bench_dir, executor=executor)
    return time.perf_counter() - start, result


def check(result: BenchResult, cells: int) -> dict[str, float]:
    assert len(result.cells) == cells
    assert all((c.status, c.starts, c.completions) == ("done", 1, 1) for c in result.cells)
    return {c.key: c.primary_value for c in result.cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=8)
    args = parser.parse_args()
    raw = yaml.safe_load(SPEC) | {"seeds": list(range(args.cells))}
    spec = parse_spec(raw)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="pm-exec-") as tmp:
        root = Path(tmp)
        local_s, local = timed(spec, root / "local", LocalExecutor())
        src = str(Path(polymodal.__file__).parents[1])
        env = {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
        start = time.perf_counter()
        with LocalRayCluster(root / "r", nodes=1, num_cpus=1, env=env) as cluster:
            cluster_s = time.perf_counter() - start
            import ray

            start = time.perf_counter()
            ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
            connect_s = time.perf_counter() - start
            try:
                ray_s, remote = timed(spec, root / "ray", RayExecutor(poll_s=0.2))
            finally:
                ray.shutdown()
    assert check(local, args.cells) == check(remote, args.cells), "different results"
    n = args.cells
    print(f"cells: {n} (synthetic n=120, one epoch, tiny CNN), one at a time, one torch thread")
    print(f"local executor: {local_s:.2f} s = {local_s / n:.3f} s per cell")
    print(f"ray executor:   {ray_s:.2f} s = {ray_s / n:.3f} s per cell")
    print(f"ray overhead per cell: {(ray_s - local_s) / n * 1000:.0f} ms")
    print(f"ratio ray / local (per cell): {ray_s / local_s:.2f}x")
    print(f"once per benchmark: cluster start {cluster_s:.1f} s, driver connect {connect_s:.2f} s")


if __name__ == "__main__":
    main()
