"""Benchmark: the cost of building a predictions table over the bare model forward, same run.

On the built-in ``synthetic`` dataset (``--samples`` samples, all in one split) with a small
untrained model built by ``build_model`` (image ``cnn`` + text ``text_gru`` + audio
``audio_conv``, ``concat`` fusion), both sides iterate the same DataLoader (collate included):

(a) bare: ``model(batch)`` under ``torch.no_grad`` in eval mode, keeping the outputs (no table);
(b) table: :func:`polymodal.evaluate.predict.predict_table` (forward, decoding, the table).

The forward dominates both and the machine's noise can exceed the table's cost, so the table's
own cost is also measured alone: ``predict_table`` over the pre-collated batches with a model that
replays the recorded outputs (decoding and rows only).

Prints the time of each (best of ``--repeats``, run alternately), the DataLoader alone (a cost
both share), the overhead ``(b - a) / a`` (target: at most 10 %) and whether the table's
predictions and scores agree with the bare outputs decoded by the model. ``--profile`` adds the
functions where ``predict_table`` spends its own time (cProfile, by total time).

Run::

    .venv/bin/python benchmarks/eval_overhead.py [--samples 4000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from polymodal.config import ModelConfig
from polymodal.data.loading import make_dataloader
from polymodal.evaluate.predict import predict_table
from polymodal.models.builder import build_model
from polymodal.registry import DATASETS

TARGET_OVERHEAD = 0.10
MODEL = {
    "encoders": {"image": "cnn", "text": "text_gru", "audio": "audio_conv"},
    "fusion": "concat",
}


def bare_forward(model: torch.nn.Module, loader: Any) -> list[torch.Tensor]:
    """The model's outputs over the loader (eval mode): forward only, no decoding, no table."""
    model.eval()
    with torch.no_grad():
        return [model(batch).output for batch in loader]


class Replay(torch.nn.Module):
    """Gives back recorded outputs in order, with the real model's encoders and decoding, so
    that ``predict_table`` over pre-collated batches costs only its own work (the table)."""

    def __init__(self, model: Any, outputs: list[Any]) -> None:
        super().__init__()
        self.encoders = model.encoders  # predict_table reads the modality names from it
        self.model = model
        self.outputs = outputs
        self.position = 0

    def forward(self, batch: Any) -> Any:
        output = self.outputs[self.position % len(self.outputs)]
        self.position += 1
        return output

    def predict(self, output: Any) -> Any:
        return self.model.predict(output)


def loader_only(loader: Any) -> int:
    """Iterate (and collate) every batch without a model."""
    return sum(len(batch) for batch in loader)


def best_times(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Smallest wall time of each run over ``repeats`` rounds (the runs alternate within a round,
    so a slow phase of the machine hits both), and each run's last result."""
    best: dict[str, tuple[float, Any]] = {name: (float("inf"), None) for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            result = run()
            best[name] = (min(best[name][0], time.perf_counter() - start), result)
    return best


def agreement(model: Any, outputs: list[torch.Tensor], table: Any) -> tuple[bool, float]:
    """(same predicted classes, largest score difference) of the table and the bare outputs."""
    output = torch.cat(outputs)  # [N, C]
    decoded = model._task_head().predict(output)
    same = np.array_equal(decoded.prediction.numpy(), table["prediction"].to_numpy())
    scores = np.stack(table["scores"].to_numpy())  # [N, C]
    return same, float(np.abs(scores - decoded.scores.float().numpy()).max())


def profile_table(model: Any, loader: Any, task: Any, top: int) -> str:
    """cProfile of one ``predict_table`` run, the ``top`` functions by their own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    predict_table(model, loader, task)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="profile predict_table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    bundle = DATASETS.create(
        "synthetic", seed=args.seed, state=None, n=args.samples, val_fraction=0.0,
        test_fraction=0.0,
    )  # fmt: skip
    model = build_model(ModelConfig.model_validate(MODEL), bundle.info).eval()
    used = {name: bundle.info.modalities[name] for name in MODEL["encoders"]}
    loader = make_dataloader(bundle.splits["train"], used, batch_size=args.batch_size)
    task = bundle.info.task
    n = len(bundle.splits["train"])  # type: ignore[arg-type]
    print(
        f"synthetic: {n:,} samples, batch size {args.batch_size}, {args.threads} torch "
        f"thread(s), model {MODEL}, best of {args.repeats}"
    )

    batches = list(loader)  # pre-collated, for the table-only measurement
    with torch.no_grad():
        recorded = [model(batch) for batch in batches]
    replay = Replay(model, recorded).eval()  # predict_table gives back the mode it found
    timed = best_times(
        {
            "loader": lambda: loader_only(loader),
            "bare": lambda: bare_forward(model, loader),
            "table": lambda: predict_table(model, loader, task),
            "table_only": lambda: predict_table(replay, batches, task),
        },
        args.repeats,
    )
    (loader_s, _), (bare_s, outputs), (table_s, table) = (
        timed["loader"], timed["bare"], timed["table"],
    )  # fmt: skip
    own_s = timed["table_only"][0]
    overhead = (table_s - bare_s) / bare_s
    same, score_diff = agreement(model, outputs, table)
    verdict = "met" if overhead <= TARGET_OVERHEAD else "NOT met"
    print(f"dataloader alone (collate)   : {loader_s:8.3f} s  (shared by both sides)")
    print(f"(a) bare forward over loader : {bare_s:8.3f} s  ({n / bare_s:,.0f} samples/s)")
    print(f"(b) predict_table            : {table_s:8.3f} s  ({n / table_s:,.0f} samples/s)")
    print(f"table cost (b - a)           : {table_s - bare_s:8.3f} s")
    print(
        f"table alone (replayed output): {own_s:8.3f} s  ({100 * own_s / bare_s:.1f} % of a: "
        "decoding and rows, no forward, no collate)"
    )
    print(
        f"overhead (b - a) / a         : {100 * overhead:7.1f} %  "
        f"(target <= {100 * TARGET_OVERHEAD:.0f} %: {verdict})"
    )
    print(f"same predictions             : {'yes' if same else 'NO'} ({len(table):,} rows)")
    print(f"largest score difference     : {score_diff:.2e}")
    if args.profile:
        print(profile_table(model, loader, task, top=25))
    return 0 if same and score_diff <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
