"""Tests of polymodal.evaluate.stats.paired: paired bootstrap, approximate randomisation,
McNemar, against hand computations, full enumeration and scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from polymodal.evaluate.stats import (
    StatsError,
    mcnemar,
    paired_bootstrap,
    permutation_test_paired,
)
from polymodal.evaluate.stats.resample import bootstrap_indices


class Accuracy:
    """Accuracy over a 0/1 correctness vector [N]."""

    higher_is_better = True

    def compute(self, correct: np.ndarray) -> float:
        return float(np.mean(correct))

    def compute_resampled(self, correct: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return correct[indices].mean(axis=1)  # [R, N] -> [R]

    def compute_mixed(self, a: np.ndarray, b: np.ndarray, take_b: np.ndarray) -> np.ndarray:
        return np.where(take_b, b[None, :], a[None, :]).mean(axis=1)  # [R, N] -> [R]


class ErrorRatio:
    """Total error / total reference over samples: not a mean, so swaps must go through it.

    Inputs are ``(error [N], reference [N])``; the reference is shared by both runs.
    """

    higher_is_better = False

    def compute(self, inputs: tuple[np.ndarray, np.ndarray]) -> float:
        error, reference = inputs
        return float(error.sum() / reference.sum())

    def compute_resampled(self, inputs, indices: np.ndarray) -> np.ndarray:
        error, reference = inputs
        return error[indices].sum(axis=1) / reference[indices].sum(axis=1)

    def compute_mixed(self, inputs_a, inputs_b, take_b: np.ndarray) -> np.ndarray:
        error = np.where(take_b, inputs_b[0][None, :], inputs_a[0][None, :])  # [R, N]
        return error.sum(axis=1) / inputs_a[1].sum()


def _correct(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(np.float64)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_run_against_itself_gives_exactly_zero(method: str) -> None:
    a = _correct(300, 0.7, 0)
    result = paired_bootstrap(Accuracy(), a, a.copy(), 300, resamples=500, method=method)
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.p_value == 1.0


def test_shared_index_matrix_matches_hand_computation() -> None:
    a, b = _correct(120, 0.75, 1), _correct(120, 0.65, 2)
    result = paired_bootstrap(Accuracy(), a, b, 120, resamples=800, level=0.9, seed=3, batch=64)
    (rows,) = list(bootstrap_indices(120, 800, seed=3, batch=800))
    differences = a[rows].mean(axis=1) - b[rows].mean(axis=1)  # same rows for both runs
    low, high = np.quantile(differences, [0.05, 0.95])
    tail = min(np.sum(differences <= 0), np.sum(differences >= 0))
    assert result.difference == pytest.approx(a.mean() - b.mean())
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert result.p_value == pytest.approx(min(1.0, 2 * (tail + 1) / 801))
    assert (result.level, result.method, result.resamples) == (0.9, "percentile", 800)


def test_paired_interval_is_narrower_than_independent_resampling() -> None:
    # B equals A except on 10 samples: pairing removes the shared per-sample variation.
    a = _correct(400, 0.6, 4)
    b = a.copy()
    b[:10] = 1 - b[:10]
    paired = paired_bootstrap(Accuracy(), a, b, 400, resamples=1000)
    rows_a, rows_b = (next(bootstrap_indices(400, 1000, seed=s, batch=1000)) for s in (1, 2))
    unpaired = a[rows_a].mean(axis=1) - b[rows_b].mean(axis=1)
    unpaired_width = np.subtract(*np.quantile(unpaired, [0.975, 0.025]))
    paired_width = paired.ci_high - paired.ci_low
    # paired sd = sqrt(10) / 400 ~ 0.008 (width ~0.031); unpaired sd ~ 0.035 (width ~0.135)
    assert paired_width < 0.5 * unpaired_width
    assert abs(paired_width - 2 * 1.96 * math.sqrt(10) / 400) < 0.01
    assert paired.ci_low <= paired.difference <= paired.ci_high


def test_clear_difference_gets_smallest_p_value() -> None:
    result = paired_bootstrap(Accuracy(), np.ones(50), np.zeros(50), 50, resamples=999)
    assert (result.difference, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)
    assert result.p_value == pytest.approx(2 / 1000)


def test_paired_bootstrap_is_deterministic() -> None:
    a, b = _correct(200, 0.7, 5), _correct(200, 0.68, 6)
    first = paired_bootstrap(Accuracy(), a, b, 200, method="bca", seed=1)
    assert first == paired_bootstrap(Accuracy(), a, b, 200, method="bca", seed=1, batch=33)
    assert first != paired_bootstrap(Accuracy(), a, b, 200, method="bca", seed=2)


def _exact_permutation_p(metric, inputs_a, inputs_b, n: int) -> float:
    """Share of all 2^n swap patterns whose |difference| reaches the observed one."""
    observed = abs(metric.compute(inputs_a) - metric.compute(inputs_b))
    swaps = np.array(list(itertools.product([False, True], repeat=n)))  # [2^n, n]
    pseudo = metric.compute_mixed(inputs_a, inputs_b, swaps)
    pseudo -= metric.compute_mixed(inputs_a, inputs_b, ~swaps)
    return float(np.mean(np.abs(pseudo) >= observed - 1e-12))


def test_randomisation_p_value_near_exact_enumeration_and_scipy() -> None:
    a = np.array([1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1], dtype=np.float64)
    b = np.array([0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0], dtype=np.float64)
    exact = _exact_permutation_p(Accuracy(), a, b, 12)
    reference = scipy.stats.permutation_test(
        (a, b),
        lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
        permutation_type="samples",
        n_resamples=np.inf,
    ).pvalue
    assert exact == pytest.approx(reference)  # symmetric null: |d| tail = 2 x one tail
    result = permutation_test_paired(Accuracy(), a, b, 12, rounds=20_000, seed=0)
    assert result.difference == pytest.approx(a.mean() - b.mean())
    assert result.rounds == 20_000
    assert abs(result.p_value - exact) < 0.015  # Monte-Carlo sd <= 0.0036


def test_randomisation_on_a_ratio_metric_swaps_through_compute_mixed() -> None:
    rng = np.random.default_rng(8)
    reference = rng.uniform(1, 2, size=10)
    a = (reference * rng.uniform(0.0, 0.3, size=10), reference)
    b = (reference * rng.uniform(0.1, 0.5, size=10), reference)
    exact = _exact_permutation_p(ErrorRatio(), a, b, 10)
    result = permutation_test_paired(ErrorRatio(), a, b, 10, rounds=20_000, seed=4, batch=3000)
    assert abs(result.p_value - exact) < 0.015


def test_randomisation_identical_runs_and_plus_one_correction() -> None:
    a = _correct(30, 0.5, 9)
    same = permutation_test_paired(Accuracy(), a, a.copy(), 30, rounds=99)
    assert same.p_value == 1.0  # every round ties the observed 0
    apart = permutation_test_paired(Accuracy(), np.ones(40), np.zeros(40), 40, rounds=99)
    assert apart.p_value == pytest.approx(1 / 100)  # never reached by chance: (0 + 1) / (99 + 1)


def test_randomisation_is_deterministic_and_batch_free() -> None:
    a, b = _correct(60, 0.7, 10), _correct(60, 0.6, 11)
    first = permutation_test_paired(Accuracy(), a, b, 60, rounds=2000, seed=5)
    assert first == permutation_test_paired(Accuracy(), a, b, 60, rounds=2000, seed=5, batch=7)


def test_randomisation_needs_compute_mixed() -> None:
    class NoMix:
        higher_is_better = True

        def compute(self, x):
            return float(np.mean(x))

        def compute_resampled(self, x, indices):
            return x[indices].mean(axis=1)

    with pytest.raises(StatsError, match="MixableMetric"):
        permutation_test_paired(NoMix(), np.ones(3), np.ones(3), 3)  # type: ignore[arg-type]


def _pair_vectors(b: int, c: int, both: int = 5, neither: int = 3):
    a = [1] * b + [0] * c + [1] * both + [0] * neither
    other = [0] * b + [1] * c + [1] * both + [0] * neither
    return np.array(a), np.array(other, dtype=bool)


def test_mcnemar_exact_against_hand_and_binomtest() -> None:
    a, b = _pair_vectors(10, 3)
    result = mcnemar(a, b)
    by_hand = 2 * sum(math.comb(13, k) for k in range(4)) / 2**13
    assert (result.b, result.c, result.method, result.statistic) == (10, 3, "exact", 3.0)
    assert result.p_value == pytest.approx(by_hand, rel=1e-12)
    assert result.p_value == pytest.approx(scipy.stats.binomtest(10, 13).pvalue, rel=1e-12)


def test_mcnemar_chi_square_with_continuity_correction() -> None:
    a, b = _pair_vectors(40, 20)
    result = mcnemar(a, b)
    statistic = (abs(40 - 20) - 1) ** 2 / 60
    assert (result.b, result.c, result.method) == (40, 20, "chi2")
    assert result.statistic == pytest.approx(statistic)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(statistic / 2)), rel=1e-10)
    forced = mcnemar(a, b, exact=True)
    assert forced.p_value == pytest.approx(scipy.stats.binomtest(40, 60).pvalue, rel=1e-10)


def test_mcnemar_switches_to_chi_square_at_25_discordant_pairs() -> None:
    assert mcnemar(*_pair_vectors(16, 8)).method == "exact"  # 24 discordant
    assert mcnemar(*_pair_vectors(17, 8)).method == "chi2"  # 25 discordant
    assert mcnemar(*_pair_vectors(17, 8), exact=True).method == "exact"


@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_without_evidence_gives_p_one(exact: bool) -> None:
    assert mcnemar(*_pair_vectors(0, 0), exact=exact).p_value == 1.0
    assert mcnemar(*_pair_vectors(30, 30), exact=exact).p_value == pytest.approx(1.0)


def test_mcnemar_rejects_bad_inputs() -> None:
    with pytest.raises(StatsError, match="only 0/1"):
        mcnemar(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(StatsError, match="same samples"):
        mcnemar(np.array([0, 1, 1]), np.array([0, 1]))
