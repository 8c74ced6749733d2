"""Benchmark: vectorised ``bootstrap_ci`` against a per-resample Python loop, in the same run.

1,000 bootstrap resamples of accuracy over 100,000 predictions. Both sides use the same seeded
index rows (:func:`polymodal.evaluate.stats.resample.bootstrap_indices`): ``bootstrap_ci`` calls the
metric's vectorised ``compute_resampled`` once per batch of rows, the loop calls ``compute`` on
each resample in turn. Prints both times (best of ``--repeats``), their ratio (target >= 20x), the
time of the index draws alone (a cost both sides share) and whether both give the same interval.

The metric is the registered ``accuracy`` of :mod:`polymodal.evaluate.metrics` when it exists;
otherwise (with a printed note) an accuracy over (target, prediction) written here.

Run::

    .venv/bin/python benchmarks/bootstrap_speed.py [--samples 100000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from polymodal.errors import UnknownComponentError
from polymodal.evaluate.stats import bootstrap_ci
from polymodal.evaluate.stats.bootstrap import percentile_bounds
from polymodal.evaluate.stats.resample import bootstrap_indices

TARGET_RATIO = 20.0


class ScriptAccuracy:
    """Accuracy of (target [N], prediction [N]) class ids; the fallback metric."""

    higher_is_better = True

    def compute(self, inputs: tuple[np.ndarray, np.ndarray]) -> float:
        target, prediction = inputs
        return float(np.mean(target == prediction))

    def compute_resampled(
        self, inputs: tuple[np.ndarray, np.ndarray], indices: np.ndarray
    ) -> np.ndarray:
        target, prediction = inputs
        correct = target == prediction  # [N], once per call
        return correct[indices].mean(axis=1)  # [R, M] -> [R]


def make_predictions(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions with about 80 % accuracy."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, size=n)
    wrong = rng.integers(0, classes, size=n)
    prediction = np.where(rng.random(n) < 0.8, target, wrong)
    return target, prediction


def script_accuracy(
    target: np.ndarray, prediction: np.ndarray
) -> tuple[Any, Any, Callable[[np.ndarray], Any], str]:
    """(metric, inputs, subset of inputs by an index row, description) of the fallback."""
    inputs = (target, prediction)
    return ScriptAccuracy(), inputs, lambda row: (target[row], prediction[row]), "script accuracy"


def load_accuracy(
    target: np.ndarray, prediction: np.ndarray, classes: int
) -> tuple[Any, Any, Callable[[np.ndarray], Any], str]:
    """(metric, inputs, subset of inputs by an index row, description): the registered
    accuracy, else (with a printed note) :class:`ScriptAccuracy`."""
    try:
        from polymodal.evaluate.metrics.base import MetricInputs
        from polymodal.registry import METRICS

        metric = METRICS.create("accuracy")
    except (ImportError, UnknownComponentError) as exc:
        print(f"note: registered 'accuracy' not available ({type(exc).__name__}: {exc});")
        print("      falling back to the accuracy written in this script")
        return script_accuracy(target, prediction)
    inputs = MetricInputs("multiclass", target, prediction, n_classes=classes)
    return metric, inputs, inputs.take, "registered polymodal.evaluate.metrics 'accuracy'"


def loop_interval(
    metric: Any,
    subset: Callable[[np.ndarray], Any],
    n: int,
    resamples: int,
    seed: int,
    level: float,
) -> tuple[float, float]:
    """The percentile interval with one ``compute`` call per resample."""
    values = np.array(
        [
            float(metric.compute(subset(row)))
            for rows in bootstrap_indices(n, resamples, seed=seed)
            for row in rows  # [N] positions of one resample
        ]
    )
    return percentile_bounds(values, level)


def best_time(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Smallest wall time of ``repeats`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--metric",
        choices=("auto", "script"),
        default="auto",
        help="auto: the registered accuracy if it exists; script: the one written here",
    )
    args = parser.parse_args(argv)

    target, prediction = make_predictions(args.samples, args.classes, args.seed)
    if args.metric == "script":
        metric, inputs, subset, source = script_accuracy(target, prediction)
    else:
        metric, inputs, subset, source = load_accuracy(target, prediction, args.classes)
    n, r = args.samples, args.resamples
    print(f"metric: {source}; N = {n:,} predictions, R = {r:,} resamples, best of {args.repeats}")

    draw_time, _ = best_time(
        lambda: sum(rows.shape[0] for rows in bootstrap_indices(n, r, seed=args.seed)),
        args.repeats,
    )
    vector_time, ci = best_time(
        lambda: bootstrap_ci(metric, inputs, n, resamples=r, level=args.level, seed=args.seed),
        args.repeats,
    )
    loop_time, (loop_low, loop_high) = best_time(
        lambda: loop_interval(metric, subset, n, r, args.seed, args.level), args.repeats
    )
    ratio = loop_time / vector_time
    same = np.isclose(ci.low, loop_low, rtol=0, atol=1e-12) and np.isclose(
        ci.high, loop_high, rtol=0, atol=1e-12
    )
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"estimate               : {ci.estimate:.6f}")
    print(f"vectorised bootstrap_ci: {vector_time:8.3f} s  [{ci.low:.6f}, {ci.high:.6f}]")
    print(f"per-resample loop      : {loop_time:8.3f} s  [{loop_low:.6f}, {loop_high:.6f}]")
    print(f"index draws alone      : {draw_time:8.3f} s  (shared by both sides)")
    print(f"speed-up               : {ratio:8.1f}x  (target >= {TARGET_RATIO:.0f}x: {verdict})")
    print(f"same interval          : {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
