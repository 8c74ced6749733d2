"""Tests of polymodal.evaluate.stats.bootstrap against scipy.stats.bootstrap and hand formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from polymodal.evaluate.stats import (
    StatsError,
    bootstrap_ci,
    bootstrap_distribution,
    jackknife_acceleration,
    jackknife_values,
)
from polymodal.evaluate.stats.resample import jackknife_groups


class Mean:
    """Mean of a float vector (accuracy when the vector is 0/1 correctness)."""

    higher_is_better = True

    def __init__(self) -> None:
        self.calls = 0

    def compute(self, x: np.ndarray) -> float:
        return float(np.mean(x))

    def compute_resampled(self, x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        self.calls += 1
        return x[indices].mean(axis=1)  # [R, M] -> [R]


class Ratio:
    """sum(x) / sum(y) over paired samples: a non-linear statistic."""

    higher_is_better = True

    def compute(self, inputs: tuple[np.ndarray, np.ndarray]) -> float:
        x, y = inputs
        return float(x.sum() / y.sum())

    def compute_resampled(self, inputs: tuple[np.ndarray, np.ndarray], indices: np.ndarray):
        x, y = inputs
        return x[indices].sum(axis=1) / y[indices].sum(axis=1)


class Broken:
    """Returns a wrong shape or NaN on purpose."""

    higher_is_better = True

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def compute(self, x: np.ndarray) -> float:
        if self.mode == "dict":
            return {"class 0": 0.5}  # type: ignore[return-value]
        return 0.5 if self.mode != "outside" else 10.0

    def compute_resampled(self, x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        if self.mode == "shape":
            return np.zeros(indices.shape[0] + 1)
        if self.mode == "nan":
            return np.full(indices.shape[0], np.nan)
        return x[indices].mean(axis=1)


def _exponential(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).exponential(size=n)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_same_seed_matches_scipy_bootstrap_exactly(method: str) -> None:
    # Same index stream (default_rng(seed).integers), same quantile rule, same z0 and jackknife.
    x = _exponential(200)
    ours = bootstrap_ci(Mean(), x, x.size, resamples=2000, method=method, seed=7)
    ref = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=2000, method=method, rng=np.random.default_rng(7)
    ).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=1e-12)
    assert ours.high == pytest.approx(ref.high, abs=1e-12)
    assert ours.estimate == pytest.approx(x.mean())
    assert (ours.level, ours.method, ours.resamples) == (0.95, method, 2000)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_ratio_statistic_matches_scipy_paired_bootstrap(method: str) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.exponential(size=150), rng.uniform(0.5, 1.5, size=150)
    ours = bootstrap_ci(Ratio(), (x, y), 150, resamples=1500, method=method, level=0.9, seed=11)
    ref = scipy.stats.bootstrap(
        (x, y),
        lambda a, b, axis=-1: a.sum(axis=axis) / b.sum(axis=axis),
        paired=True,
        n_resamples=1500,
        method=method,
        confidence_level=0.9,
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-12)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_close_to_scipy_within_monte_carlo_tolerance(method: str) -> None:
    # Independent seeds: only Monte-Carlo error separates the two (sd of a bound ~0.001 here).
    x = np.random.default_rng(0).normal(size=500)
    ours = bootstrap_ci(Mean(), x, 500, resamples=10_000, method=method, seed=1)
    ref = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=10_000, method=method, rng=np.random.default_rng(2)
    ).confidence_interval
    assert abs(ours.low - ref.low) < 0.01
    assert abs(ours.high - ref.high) < 0.01


def test_exact_jackknife_acceleration_matches_hand_formula() -> None:
    x = _exponential(60)
    leave_one_out = np.array([np.delete(x, i).mean() for i in range(x.size)])
    d = leave_one_out.mean() - leave_one_out
    expected = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    np.testing.assert_allclose(jackknife_values(Mean(), x, 60, groups=60), leave_one_out)
    assert jackknife_acceleration(Mean(), x, 60, groups=60) == pytest.approx(expected, rel=1e-10)
    # default G = min(N, 1000) is the exact jackknife for N <= 1000; G > N is capped at N
    assert jackknife_acceleration(Mean(), x, 60) == jackknife_acceleration(Mean(), x, 60, groups=60)
    assert jackknife_acceleration(Mean(), x, 60, groups=500) == jackknife_acceleration(
        Mean(), x, 60, groups=60
    )


def test_grouped_jackknife_approximates_exact_acceleration() -> None:
    x = _exponential(3000)
    exact = jackknife_acceleration(Mean(), x, 3000, groups=3000)
    grouped = [jackknife_acceleration(Mean(), x, 3000, groups=1000, seed=s) for s in range(3)]
    assert 0.004 < exact < 0.008  # skewness 2 / (6 sqrt(3000)) ~ 0.006 for exponential data
    # grouping error sd ~0.0005 at G = 1000; the exact value is ~0.006
    assert np.max(np.abs(np.array(grouped) - exact)) < 0.0025
    assert len(set(grouped)) == 3  # different seeds, different random groups
    # 3000 = 1000 groups of 3: each jackknife value leaves out 3 samples
    values = jackknife_values(Mean(), x, 3000, groups=1000)
    assert values.shape == (1000,)
    assert np.isclose(np.mean(values), x.mean())


def test_grouped_jackknife_with_unequal_groups_leaves_each_group_out() -> None:
    # 10 samples in 3 groups of 4, 3, 3: value g is the mean without group g's samples.
    x = np.random.default_rng(6).normal(size=10)
    values = jackknife_values(Mean(), x, 10, groups=3, seed=5)
    groups = [g for block in jackknife_groups(10, 3, seed=5) for g in block]
    assert [len(g) for g in groups] == [4, 3, 3]
    np.testing.assert_allclose(values, [np.delete(x, g).mean() for g in groups])


def test_bca_with_grouped_jackknife_close_to_exact() -> None:
    x = _exponential(2000)
    exact = bootstrap_ci(Mean(), x, 2000, resamples=2000, method="bca", jackknife_groups=2000)
    grouped = bootstrap_ci(Mean(), x, 2000, resamples=2000, method="bca", jackknife_groups=200)
    assert abs(exact.low - grouped.low) < 0.002
    assert abs(exact.high - grouped.high) < 0.002


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_degenerate_distribution_gives_point_interval(method: str) -> None:
    all_right = np.ones(40)
    ci = bootstrap_ci(Mean(), all_right, 40, resamples=200, method=method)
    assert (ci.estimate, ci.low, ci.high) == (1.0, 1.0, 1.0)
    single = bootstrap_ci(Mean(), np.array([0.25]), 1, resamples=50, method=method)
    assert (single.low, single.high) == (0.25, 0.25)


def test_same_seed_is_bit_identical_and_batch_does_not_matter() -> None:
    x = (np.random.default_rng(4).random(301) < 0.7).astype(np.float64)
    first = bootstrap_ci(Mean(), x, 301, resamples=500, method="bca", seed=3)
    again = bootstrap_ci(Mean(), x, 301, resamples=500, method="bca", seed=3)
    small_batches = bootstrap_ci(Mean(), x, 301, resamples=500, method="bca", seed=3, batch=7)
    other_seed = bootstrap_ci(Mean(), x, 301, resamples=500, method="bca", seed=4)
    assert first == again == small_batches
    assert (first.low, first.high) != (other_seed.low, other_seed.high)


def test_one_vectorised_call_per_batch() -> None:
    metric = Mean()
    distribution = bootstrap_distribution(metric, np.arange(20.0), 20, resamples=100, batch=30)
    assert metric.calls == 4  # 30 + 30 + 30 + 10 rows, no per-resample calls
    assert distribution.shape == (100,)
    rows = np.random.default_rng(0).integers(0, 20, size=(100, 20))
    np.testing.assert_array_equal(distribution, np.arange(20.0)[rows].mean(axis=1))


def test_percentile_bounds_are_quantiles_of_the_distribution() -> None:
    x = _exponential(80)
    distribution = bootstrap_distribution(Mean(), x, 80, resamples=999, seed=2)
    ci = bootstrap_ci(Mean(), x, 80, resamples=999, level=0.8, seed=2)
    assert (ci.low, ci.high) == tuple(np.quantile(distribution, [0.1, 0.9]))


@pytest.mark.parametrize(
    ("metric", "kwargs", "message"),
    [
        (Broken("shape"), {}, "returned shape"),
        (Broken("nan"), {}, "non-finite"),
        (Broken("outside"), {"method": "bca"}, "outside all"),
        (Broken("dict"), {}, "not a single number"),
        (Mean(), {"level": 95}, "strictly between 0 and 1"),
        (Mean(), {"method": "basic"}, "unknown interval method"),
        (Mean(), {"resamples": 0}, "resamples must be"),
        (object(), {}, "does not implement ResamplableMetric"),
    ],
)
def test_errors_say_what_and_how_to_fix(metric: object, kwargs: dict, message: str) -> None:
    with pytest.raises(StatsError, match=message) as info:
        bootstrap_ci(metric, _exponential(30), 30, **{"resamples": 50, **kwargs})  # type: ignore[arg-type]
    assert "fix:" in str(info.value)
