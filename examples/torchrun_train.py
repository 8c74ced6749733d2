"""Train a polymodal experiment under ``torchrun``: several GPUs, several machines.

``torchrun`` starts one process per device and sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; Lightning sees them and joins that process group instead of
launching processes of its own. Every process runs this script; rank 0 alone writes the run
directory. One machine with 4 GPUs::

    torchrun --nproc_per_node=4 examples/torchrun_train.py CONFIG.yaml --out RUN \\
        train.accelerator=gpu train.devices=4 train.strategy=ddp

Two machines with 4 GPUs each (run on both, ``--node_rank`` 0 and 1)::

    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST0 --master_port=29500 \\
        --nproc_per_node=4 examples/torchrun_train.py CONFIG.yaml --out RUN \\
        train.accelerator=gpu train.devices=4 train.num_nodes=2 train.strategy=ddp

On CPU (gloo): ``torchrun --nproc_per_node=2 examples/torchrun_train.py CONFIG.yaml --out RUN
train.accelerator=cpu train.devices=2 train.strategy=ddp``. ``train.batch_size`` is per process:
the global batch is ``batch_size x devices x num_nodes``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="experiment YAML file")
    parser.add_argument("overrides", nargs="*", help="dotted.key=value overrides")
    parser.add_argument("--out", type=Path, required=True, help="run directory to write")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    return parser.parse_intermixed_args(argv)  # overrides before or after --out


def main(argv: list[str] | None = None) -> int:
    """Train the config into ``--out``; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from polymodal.config import load_config
    from polymodal.errors import PolymodalError
    from polymodal.train.run import train

    rank = int(os.environ.get("RANK", "0"))
    try:
        config = load_config(args.config, args.overrides)
        # rank 0 alone decides: the others may start after it wrote config.yaml
        if rank == 0 and (args.out / "config.yaml").exists() and not args.resume:
            raise PolymodalError(
                "the run directory already holds a run",
                where=str(args.out),
                fix="add --resume to continue it, or choose another --out",
            )
        result = train(config, args.out, resume=args.resume)
    except PolymodalError as error:
        print(f"error (rank {rank}): {error}", file=sys.stderr)
        return 2
    if rank == 0:
        print(f"trained {result.epochs_run} epochs in {result.train_seconds:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
