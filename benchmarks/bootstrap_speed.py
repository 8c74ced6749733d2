"""Benchmark: ``bootstrap_ci`` against a per-resample Python loop, in the same run.

1,000 bootstrap resamples over 100,000 predictions of:

- accuracy and macro-F1 (10 classes): categorical metrics, for which ``bootstrap_ci`` draws
  multinomial category counts by default (O(K) per resample; see
  :mod:`polymodal.evaluate.stats.categorical`); target: >= 20x faster than the loop;
- MAE (regression): not categorical, so ``bootstrap_ci`` draws index rows (the general path).

The baseline draws index rows with
:func:`polymodal.evaluate.stats.resample.bootstrap_indices` and calls ``metric.compute`` on
each resample in turn. For categorical metrics ``bootstrap_ci`` with counts also runs forced to
index rows (``resampling="indices"``) for comparison. Times are the best of ``--repeats``.

Agreement: index rows of the same seed are the baseline's own rows, so those intervals must
match to rounding (1e-9). Count draws are other random draws of the same (exact) bootstrap
distribution, so those intervals are not bit-identical: they must agree within Monte-Carlo
error, i.e. each bound within 4 standard deviations of the difference of two independent
percentile estimates from R resamples, ``sqrt(2 a (1 - a) / R) / f(q_a)`` with ``f`` the normal
density of the bootstrap distribution at the bound.

Run::

    .venv/bin/python benchmarks/bootstrap_speed.py [--samples 100000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri

from polymodal.evaluate.metrics import MetricInputs, create_metric
from polymodal.evaluate.stats import CI, bootstrap_ci
from polymodal.evaluate.stats.bootstrap import percentile_bounds
from polymodal.evaluate.stats.resample import bootstrap_indices

TARGET_RATIO = 20.0
MC_SIGMAS = 4.0
"""Count-drawn and loop bounds agree when within this many Monte-Carlo standard deviations."""


@dataclass(frozen=True)
class Case:
    """One metric to benchmark: its registered name and inputs."""

    name: str
    inputs: MetricInputs
    categorical: bool


def classification_inputs(n: int, classes: int, seed: int) -> MetricInputs:
    """Targets and predictions with about 80 % accuracy, wrong classes uniform."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, size=n)
    wrong = rng.integers(0, classes, size=n)
    prediction = np.where(rng.random(n) < 0.8, target, wrong)
    return MetricInputs("multiclass", target, prediction, n_classes=classes)


def regression_inputs(n: int, seed: int) -> MetricInputs:
    """Continuous targets and noisy predictions (about N distinct absolute errors)."""
    rng = np.random.default_rng(seed)
    target = rng.normal(size=n)
    return MetricInputs("regression", target, target + rng.normal(scale=0.5, size=n))


def loop_distribution(metric: Any, inputs: MetricInputs, resamples: int, seed: int) -> np.ndarray:
    """The baseline: one ``compute`` per resample of index rows."""
    n = len(inputs)
    return np.array(
        [
            float(metric.compute(inputs.take(row)))
            for rows in bootstrap_indices(n, resamples, seed=seed)
            for row in rows  # [N] positions of one resample
        ]
    )


def best_time(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Smallest wall time of ``repeats`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def mc_tolerance(distribution: np.ndarray, level: float, resamples: int) -> float:
    """``MC_SIGMAS`` sd of the difference of two independent percentile bounds (normal f)."""
    alpha = (1.0 - level) / 2.0
    z = float(ndtri(alpha))
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / float(np.std(distribution))
    return MC_SIGMAS * math.sqrt(2.0 * alpha * (1.0 - alpha) / resamples) / density


def bounds(ci: CI) -> str:
    return f"[{ci.low:.6f}, {ci.high:.6f}]"


def run_case(case: Case, args: argparse.Namespace) -> bool:
    """Time and check one metric; True when the intervals agree."""
    metric, inputs, r = create_metric(case.name), case.inputs, args.resamples
    n = len(inputs)
    kind = "categorical" if case.categorical else "not categorical"
    print(f"\n{case.name} ({kind}): N = {n:,}, R = {r:,}")

    def ci_of(resampling: str) -> CI:
        return bootstrap_ci(
            metric, inputs, n, resamples=r, level=args.level, seed=args.seed, resampling=resampling
        )

    loop_time, values = best_time(
        lambda: loop_distribution(metric, inputs, r, args.seed), args.repeats
    )
    loop_low, loop_high = percentile_bounds(values, args.level)
    label = "per-resample loop (indices)"
    print(f"  {label:<33}: {loop_time:8.3f} s  [{loop_low:.6f}, {loop_high:.6f}]")
    auto_time, auto = best_time(lambda: ci_of("auto"), args.repeats)
    ratio = loop_time / auto_time
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    target = f"(target >= {TARGET_RATIO:.0f}x: {verdict})" if case.categorical else ""
    label = f"bootstrap_ci (auto -> {auto.resampling})"
    print(f"  {label:<33}: {auto_time:8.3f} s  {bounds(auto)}  {ratio:7.1f}x {target}".rstrip())
    if auto.resampling == "counts":
        index_time, index = best_time(lambda: ci_of("indices"), args.repeats)
        label = "bootstrap_ci (indices, forced)"
        ratio_index = loop_time / index_time
        print(f"  {label:<33}: {index_time:8.3f} s  {bounds(index)}  {ratio_index:7.1f}x")
    gaps = (abs(auto.low - loop_low), abs(auto.high - loop_high))
    if auto.resampling == "indices":
        ok = max(gaps) <= 1e-9
        print(f"  same index rows as the loop: bounds differ by {max(gaps):.1e} (<= 1e-9: {ok})")
        return ok
    tolerance = mc_tolerance(values, args.level, r)
    ok = max(gaps) <= tolerance
    print(
        "  counts are other random draws than the loop's index rows, so the intervals are not "
        "bit-identical;"
    )
    print(
        f"  bounds differ by {gaps[0]:.6f} / {gaps[1]:.6f}, Monte-Carlo tolerance "
        f"{tolerance:.6f} ({MC_SIGMAS:.0f} sd): {'agree' if ok else 'DISAGREE'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    labels = classification_inputs(args.samples, args.classes, args.seed)
    cases = [
        Case("accuracy", labels, True),
        Case("f1_macro", labels, True),
        Case("mae", regression_inputs(args.samples, args.seed), False),
    ]
    print(f"bootstrap_ci vs a per-resample loop; {args.classes} classes; best of {args.repeats}")
    n, r = args.samples, args.resamples
    draw_time, _ = best_time(
        lambda: sum(rows.shape[0] for rows in bootstrap_indices(n, r, seed=args.seed)),
        args.repeats,
    )
    print(
        f"drawing the {r:,} x {n:,} index rows alone: {draw_time:.3f} s (both index paths pay it)"
    )
    ok = [run_case(case, args) for case in cases]
    print(f"\nall intervals agree: {'yes' if all(ok) else 'NO'}")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
