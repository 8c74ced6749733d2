"""Several processes on CPU (gloo): DDP training under torchrun and sharded evaluation.

DDP vs one process: with ``train.devices=2`` and half the per-process batch, ``RankShard`` gives
rank ``r`` positions ``r, r + 2, ...`` of the epoch order, so the two ranks' batches at step ``s``
together are the one-process batch ``s`` (Lightning's ``DistributedSampler`` would reshuffle and
change every batch). With dropout off (the one random op that would draw different masks for a
half batch) the averaged gradient is the full-batch gradient up to float summation order, so the
runs agree to float rounding: measured 3e-5 max weight difference and a 3e-7 relative val/loss
difference after 2 epochs. The tolerances below (1e-3 relative val/loss, 1e-3 absolute weights,
accuracy within one validation sample) leave room for other BLAS kernels, and are still far
below what a different batch composition gives (2x on val/loss after one epoch).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
PYTHON_BIN = Path(sys.executable).parent
SEED = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raw_config(batch_size: int) -> dict:
    return {
        "seed": SEED,
        "data": {"name": "synthetic", "task": "redundant", "n": 300},
        "model": {
            "encoders": {
                "image": {"name": "cnn", "out_dim": 16, "dropout": 0.0},
                "text": {"name": "text_gru", "dropout": 0.0},
            },
            "fusion": "concat",
            "head": {"name": "classification", "dropout": 0.0},
        },
        "train": {
            "max_epochs": 2,
            "batch_size": batch_size,
            "lr": 3e-3,
            "progress": False,
            "accelerator": "cpu",
        },
    }


def _history(run_dir: Path) -> list[dict]:
    lines = (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


def test_torchrun_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    import yaml

    from polymodal.config import parse_config
    from polymodal.train.run import train

    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(_raw_config(batch_size=16)))
    ddp_dir = tmp_path / "ddp"
    command = [
        str(PYTHON_BIN / "torchrun"),
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        str(REPO / "examples" / "torchrun_train.py"),
        str(config_path),
        "--out",
        str(ddp_dir),
        "train.devices=2",
        "train.strategy=ddp",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained 2 epochs" in done.stdout  # printed once, by rank 0

    one_dir = tmp_path / "one"
    train(parse_config(_raw_config(batch_size=32)), one_dir)  # global batch 2 x 16

    # exactly one set of run files, the same as one process writes, nothing staged or temporary
    assert _files(ddp_dir) == _files(one_dir)
    ddp_rows, one_rows = _history(ddp_dir), _history(one_dir)
    assert [r["step"] for r in ddp_rows] == [r["step"] for r in one_rows] == [7, 14]
    n_val = 45
    for ddp, one in zip(ddp_rows, one_rows, strict=True):
        assert ddp["val/loss"] == pytest.approx(one["val/loss"], rel=1e-3)
        assert ddp["train/loss"] == pytest.approx(one["train/loss"], rel=1e-3)
        assert abs(ddp["val/accuracy"] - one["val/accuracy"]) <= 1 / n_val + 1e-6
    ddp_weights = load_file(ddp_dir / "checkpoint" / "model.safetensors")
    one_weights = load_file(one_dir / "checkpoint" / "model.safetensors")
    assert ddp_weights.keys() == one_weights.keys()
    for key in one_weights:
        torch.testing.assert_close(ddp_weights[key], one_weights[key], rtol=0, atol=1e-3)


def _build(batch_size: int):
    """The same data and (seeded) untrained model in every process."""
    from polymodal.config import parse_config
    from polymodal.data.loading import build_data
    from polymodal.models.builder import build_model

    config = parse_config(_raw_config(batch_size))
    bundle = build_data(config.data, seed=SEED)
    torch.manual_seed(SEED)
    model = build_model(config.model, bundle.info).eval()
    used = {name: bundle.info.modalities[name] for name in config.model.encoders}
    return bundle, model, used


def _sharded_worker(rank: int, world: int, port: int, out: str, batch_size: int) -> None:
    import torch.distributed as dist

    from polymodal.evaluate.distributed import predict_table_distributed

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        bundle, model, used = _build(batch_size)
        table = predict_table_distributed(
            model, bundle.splits["test"], used, bundle.info.task, batch_size=batch_size
        )
        table.to_pickle(Path(out) / f"rank{rank}.pkl")
    finally:
        dist.destroy_process_group()


def test_sharded_prediction_on_two_processes_equals_one_process(tmp_path):
    from polymodal.data.loading import make_dataloader
    from polymodal.evaluate.predict import predict_table

    batch_size = 8  # 45 test samples: 6 batches, the last one short
    mp.spawn(_sharded_worker, args=(2, _free_port(), str(tmp_path), batch_size), nprocs=2)
    bundle, model, used = _build(batch_size)
    loader = make_dataloader(bundle.splits["test"], used, batch_size=batch_size)
    expected = predict_table(model, loader, bundle.info.task)
    for rank in range(2):
        gathered = pd.read_pickle(tmp_path / f"rank{rank}.pkl")
        assert gathered.equals(expected), rank
        assert list(gathered["id"]) == list(expected["id"])


def test_shards_cover_each_batch_once_and_gather_restores_order():
    from polymodal.errors import PolymodalError
    from polymodal.evaluate.distributed import INDEX_COLUMN, gather_tables, shard_indices

    shards = [shard_indices(10, rank=r, world_size=3, batch_size=2) for r in range(3)]
    assert shards == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5]]  # batches 0,3 / 1,4 / 2 of 2
    tables = [pd.DataFrame({"id": [f"s{i}" for i in s], INDEX_COLUMN: s}) for s in shards]
    gathered = gather_tables(tables[::-1])
    assert list(gathered["id"]) == [f"s{i}" for i in range(10)]
    assert list(gathered.columns) == ["id"]
    with pytest.raises(PolymodalError, match="exactly once"):
        gather_tables(tables[:2])
