"""Diagnostic: the leaderboard's pooled McNemar p against a test that respects repeated units.

The leaderboard pools the paired test predictions of every common seed and runs McNemar's test on
the pooled pairs, as if each (seed, sample) pair were independent. When the seeds share test
units (the same sample id in a fixed test split, or, in built-in datasets that re-pair units per
seed, the same recording under another image), a model's correctness on a unit is correlated
across seeds and the pooled test is anti-conservative. This script recomputes, for every model
of a benchmark directory against a reference model (accuracy of the clean rows):

- ``pooled``: McNemar on the pooled pairs (the leaderboard's ``p``; exact below 25 discordant
  pairs, else chi-square with continuity correction);
- ``clustered``: an approximate randomisation test over units: per unit, the sum over its pairs
  of ``correct(A) - correct(B)``; each round flips the sign of every unit's sum with a fair coin;
  p = (rounds with ``|sum|`` at least the observed + 1) / (rounds + 1). With one pair per unit it
  is the sign test on the discordant pairs, i.e. McNemar's exact test (up to Monte Carlo error).

The unit of a row is its ``id``, or the part of the id matched by ``--unit-regex`` (degraded
digits-av: ``'^[^+]*'``, the FSDD recording before ``+img...``). Used for the caveat of E10 in
``docs/experiments/preset-quality.md``::

    python benchmarks/clustered_pairs.py runs/results/digits-degraded --reference audio-only \\
        --unit-regex '^[^+]*'
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from polymodal.evaluate.pairing import clean_rows
from polymodal.evaluate.stats import mcnemar


def clean_predictions(run_dir: Path) -> pd.DataFrame:
    """``id``, ``correct`` of the clean (unperturbed) rows of a run's predictions table."""
    table = clean_rows(pd.read_parquet(run_dir / "predictions.parquet"))
    return pd.DataFrame(
        {"id": table["id"].astype(str), "correct": table["prediction"] == table["target"]}
    )


def pooled_mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """McNemar's p on pooled pairs: polymodal's ``mcnemar``, the leaderboard's test."""
    return float(mcnemar(correct_a, correct_b).p_value)


def clustered_sign_flip(
    difference: np.ndarray, units: np.ndarray, *, rounds: int = 100_000, seed: int = 0
) -> float:
    """Two-sided randomisation p of "A and B are exchangeable within every unit".

    Args:
        difference: ``[N]`` per pair, ``correct(A) - correct(B)`` (-1, 0 or 1).
        units: ``[N]`` the unit of each pair; pairs of one unit are flipped together.
        rounds: random sign patterns.
        seed: seed of the coins.
    """
    _, inverse = np.unique(units, return_inverse=True)
    sums = np.bincount(inverse, weights=difference.astype(float))  # [U]
    observed = abs(sums.sum())
    rng = np.random.default_rng(seed)
    count, done = 0, 0
    while done < rounds:
        size = min(10_000, rounds - done)
        signs = rng.integers(0, 2, size=(size, sums.size)) * 2 - 1  # [size, U]
        count += int(np.sum(np.abs(signs @ sums) >= observed - 1e-9))
        done += size
    return (count + 1) / (rounds + 1)


def compare(
    bench_dir: Path, reference: str, unit_regex: str | None, rounds: int
) -> list[tuple[str, int, int, float, float]]:
    """Per model: (model, pairs, units, pooled p, clustered p) against ``reference``."""
    runs: dict[str, dict[str, Path]] = {}
    for run_dir in sorted((bench_dir / "runs").iterdir()):
        if (run_dir / "predictions.parquet").is_file():
            dataset, model, seed = run_dir.name.split("__")
            runs.setdefault(model, {})[f"{dataset}/{seed}"] = run_dir
    pattern = re.compile(unit_regex) if unit_regex else None
    out = []
    for model, cells in runs.items():
        if model == reference:
            continue
        parts = []
        for key, run_dir in cells.items():
            if key not in runs[reference]:
                continue
            a, b = clean_predictions(run_dir), clean_predictions(runs[reference][key])
            parts.append(a.merge(b, on="id", suffixes=("_a", "_b"), validate="one_to_one"))
        pairs = pd.concat(parts, ignore_index=True)
        ids = pairs["id"].to_numpy()
        units = (
            np.array([m.group(0) if (m := pattern.match(i)) else i for i in ids])
            if pattern
            else ids
        )
        a_right, b_right = pairs["correct_a"].to_numpy(), pairs["correct_b"].to_numpy()
        difference = a_right.astype(int) - b_right.astype(int)
        clustered = clustered_sign_flip(difference, units, rounds=rounds)
        out.append(
            (model, len(pairs), len(set(units)), pooled_mcnemar(a_right, b_right), clustered)
        )
    return sorted(out, key=lambda row: row[3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_dir", type=Path)
    parser.add_argument(
        "--reference", required=True, help="the model every other is tested against"
    )
    parser.add_argument("--unit-regex", default=None, help="the part of an id that names its unit")
    parser.add_argument("--rounds", type=int, default=100_000)
    args = parser.parse_args(argv)
    print("| model | pairs | units | pooled McNemar p | clustered sign-flip p |")
    print("|---|---|---|---|---|")
    for model, pairs, units, pooled, clustered in compare(
        args.bench_dir, args.reference, args.unit_regex, args.rounds
    ):
        print(f"| {model} | {pairs} | {units} | {pooled:.4f} | {clustered:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
