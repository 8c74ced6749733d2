"""Benchmark: per-metric speed against the library each metric is tested against, in one run.

On ``--samples`` values (default 100,000), each polymodal metric is timed with its inputs built
from numpy arrays (``MetricInputs`` construction included) next to its reference on the same
arrays: scipy's ``pearsonr`` / ``spearmanr``, torchmetrics' ``mean_absolute_error`` /
``mean_squared_error`` (on CPU tensors made once, outside the timing; torch limited to
``--torch-threads`` threads, default 1, its fastest on a shared machine) and scikit-learn's
``accuracy_score`` / ``f1_score`` / ``roc_auc_score`` / ``log_loss``. Times are the best of
``--repeats`` runs; the ratio is polymodal / reference (below 1: polymodal is faster). Values
must agree to 1e-9 (absolute) or the script exits 1. It prints numbers and asserts no time:
timings belong to this machine and this run.

Run::

    .venv/bin/python benchmarks/metric_speed.py [--samples 100000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls (seconds) and the last value."""
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def cases(n: int) -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """``(name, polymodal call, reference call)`` for each metric on n random values."""
    import torch
    from scipy import stats
    from sklearn import metrics as sk
    from torchmetrics.functional import mean_absolute_error, mean_squared_error

    from polymodal.evaluate.metrics import MetricInputs, create_metric

    rng = np.random.default_rng(0)
    y = rng.normal(size=n)
    x = y + rng.normal(size=n)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    c = 10
    target = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), target] += 1.0
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    prediction = scores.argmax(axis=1)

    def ours(name: str, task: str, t: np.ndarray, p: np.ndarray, s: Any) -> Callable[[], Any]:
        metric = create_metric(name)
        return lambda: metric.compute(MetricInputs(task, t, p, s))  # type: ignore[arg-type]

    return [
        ("pearson", ours("pearson", "regression", y, x, None), lambda: stats.pearsonr(x, y)[0]),
        (
            "spearman",
            ours("spearman", "regression", y, x, None),
            lambda: stats.spearmanr(x, y)[0],
        ),
        ("mae", ours("mae", "regression", y, x, None), lambda: mean_absolute_error(xt, yt)),
        ("mse", ours("mse", "regression", y, x, None), lambda: mean_squared_error(xt, yt)),
        (
            "accuracy",
            ours("accuracy", "multiclass", target, prediction, scores),
            lambda: sk.accuracy_score(target, prediction),
        ),
        (
            "f1_macro",
            ours("f1_macro", "multiclass", target, prediction, scores),
            lambda: sk.f1_score(target, prediction, average="macro"),
        ),
        (
            "auroc",
            ours("auroc", "multiclass", target, prediction, scores),
            lambda: sk.roc_auc_score(target, scores, multi_class="ovr"),
        ),
        (
            "log_loss",
            ours("log_loss", "multiclass", target, prediction, scores),
            lambda: sk.log_loss(target, scores),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.torch_threads)
    failed = False
    print(f"{args.samples} values, best of {args.repeats}, torch threads {args.torch_threads}")
    print(f"{'metric':<10} {'polymodal ms':>13} {'reference ms':>13} {'ratio':>7}")
    for name, ours, reference in cases(args.samples):
        t_ours, v_ours = best_time(ours, args.repeats)
        t_ref, v_ref = best_time(reference, args.repeats)
        agree = abs(float(v_ours) - float(v_ref)) <= 1e-9
        failed |= not agree
        flag = "" if agree else f"  VALUES DIFFER: {float(v_ours)!r} vs {float(v_ref)!r}"
        print(f"{name:<10} {t_ours * 1e3:>13.3f} {t_ref * 1e3:>13.3f} {t_ours / t_ref:>7.2f}{flag}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
