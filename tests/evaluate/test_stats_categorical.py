"""Tests of polymodal.evaluate.stats.categorical: bootstrap by multinomial category counts has
the distribution of index resampling, an exact jackknife, and a paired form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtri

from polymodal.evaluate.metrics import MetricInputs, create_metric
from polymodal.evaluate.stats import (
    COUNTS_BELOW,
    StatsError,
    bootstrap_ci,
    bootstrap_distribution,
    count_jackknife,
    count_statistic,
    jackknife_values,
    paired_bootstrap,
    paired_count_statistic,
)
from polymodal.evaluate.stats.bootstrap import acceleration_from_jackknife, bca_bounds
from polymodal.evaluate.stats.categorical import merge_categories
from polymodal.evaluate.stats.resample import bootstrap_counts, bootstrap_indices

LEVELS = np.array([0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975])


def _labels(n: int, seed: int, classes: int = 3, right: float = 0.7) -> MetricInputs:
    """Class predictions right with probability ``right``, else a uniform class."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, n)
    prediction = np.where(rng.random(n) < right, target, rng.integers(0, classes, n))
    return MetricInputs("multiclass", target, prediction, n_classes=classes)


def _assert_same_distribution(counts: np.ndarray, indices: np.ndarray, step: float) -> None:
    """Quantiles within 4 sd of the difference of two independent estimates (normal density,
    plus one grid ``step`` for a discrete statistic), and standard deviations within 4 %."""
    r, sd = indices.size, float(indices.std())
    z = ndtri(LEVELS)
    density = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) / sd
    tolerance = 4.0 * np.sqrt(2.0 * LEVELS * (1 - LEVELS) / r) / density + step
    gaps = np.abs(np.quantile(counts, LEVELS) - np.quantile(indices, LEVELS))
    assert np.all(gaps <= tolerance), (gaps, tolerance)
    assert abs(counts.std() / sd - 1.0) < 0.04  # sd of the ratio ~ sqrt(1 / R) = 0.7 %


@pytest.mark.parametrize("name", ["accuracy", "f1_macro", "balanced_accuracy"])
def test_count_resampling_has_the_distribution_of_index_resampling(name: str) -> None:
    metric, inputs = create_metric(name), _labels(300, seed=1)
    counts = bootstrap_distribution(metric, inputs, 300, resamples=20_000, resampling="counts")
    indices = bootstrap_distribution(
        metric, inputs, 300, resamples=20_000, seed=1, resampling="indices"
    )
    _assert_same_distribution(counts, indices, step=1 / 300)
    # a wrong sample size would be caught: counts of N / 2 samples spread sqrt(2) wider
    assert counts.std() / indices.std() < 1.2


def test_paired_count_resampling_has_the_distribution_of_shared_index_rows() -> None:
    a, b = _labels(300, seed=2), _labels(300, seed=3, right=0.6)
    b = MetricInputs("multiclass", a.target, b.prediction, n_classes=3)  # same samples
    metric = create_metric("f1_macro")
    statistic = paired_count_statistic(metric, a, b, 300, "counts")
    assert statistic is not None
    draws = bootstrap_counts(statistic.observed, 20_000, seed=0)
    counts = np.concatenate([statistic.evaluate(rows) for rows in draws])
    (rows,) = list(bootstrap_indices(300, 20_000, seed=5, batch=20_000))
    indices = metric.compute_resampled(a, rows) - metric.compute_resampled(b, rows)
    _assert_same_distribution(counts, indices, step=1 / 300)


def test_count_jackknife_equals_the_exact_index_jackknife() -> None:
    metric, inputs = create_metric("f1_macro"), _labels(40, seed=4)
    statistic = count_statistic(metric, inputs, 40, "counts")
    assert statistic is not None
    values, weights = count_jackknife(statistic)
    codes, k = metric.category_codes(inputs)
    per_category = np.full(k, np.nan)
    per_category[np.flatnonzero(statistic.observed)] = values
    exact = jackknife_values(metric, inputs, 40, groups=40)  # leave-one-out, in sample order
    np.testing.assert_allclose(per_category[codes], exact, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(weights, np.bincount(codes)[np.bincount(codes) > 0])
    assert acceleration_from_jackknife(values, weights) == pytest.approx(
        acceleration_from_jackknife(exact), rel=1e-9
    )
    assert abs(acceleration_from_jackknife(exact)) > 1e-4  # a non-trivial value is compared


def test_bca_on_counts_uses_the_count_jackknife() -> None:
    metric, inputs = create_metric("balanced_accuracy"), _labels(200, seed=5)
    ci = bootstrap_ci(metric, inputs, 200, resamples=2000, method="bca", seed=3)
    distribution = bootstrap_distribution(metric, inputs, 200, resamples=2000, seed=3)
    statistic = count_statistic(metric, inputs, 200)
    assert statistic is not None
    acceleration = acceleration_from_jackknife(*count_jackknife(statistic))
    expected = bca_bounds(distribution, float(metric.compute(inputs)), acceleration, 0.95)
    assert ci.resampling == "counts"
    assert (ci.low, ci.high) == expected


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("name", ["accuracy", "f1_macro"])
def test_paired_counts_of_a_run_against_itself_give_zero(method: str, name: str) -> None:
    a = _labels(500, seed=6)
    result = paired_bootstrap(create_metric(name), a, a, 500, resamples=500, method=method)
    assert result.resampling == "counts"
    assert (result.difference, result.ci_low, result.ci_high, result.p_value) == (0, 0, 0, 1)


def test_paired_counts_drive_both_runs_with_the_same_resample() -> None:
    # B differs from A on 10 of 400 samples: the paired sd is about sqrt(10) / 400.
    a = _labels(400, seed=7, right=0.6)
    flipped = a.prediction.copy()
    flipped[:10] = np.where(flipped[:10] == a.target[:10], (a.target[:10] + 1) % 3, a.target[:10])
    b = MetricInputs("multiclass", a.target, flipped, n_classes=3)
    result = paired_bootstrap(create_metric("accuracy"), a, b, 400, resamples=2000)
    assert result.resampling == "counts"
    assert abs((result.ci_high - result.ci_low) - 2 * 1.96 * math.sqrt(10) / 400) < 0.01


def test_auto_draws_counts_only_when_categories_are_few() -> None:
    accuracy = create_metric("accuracy")  # K = 2: right or wrong
    small, enough = _labels(2 * COUNTS_BELOW - 1, seed=8), _labels(2 * COUNTS_BELOW, seed=8)
    assert bootstrap_ci(accuracy, small, len(small), resamples=50).resampling == "indices"
    assert bootstrap_ci(accuracy, enough, len(enough), resamples=50).resampling == "counts"
    rng = np.random.default_rng(0)
    target = rng.normal(size=400)
    continuous = MetricInputs("regression", target, target + rng.normal(size=400))
    mae = create_metric("mae")  # ~N distinct errors: index rows, the scipy-compatible stream
    auto = bootstrap_ci(mae, continuous, 400, resamples=200, seed=2)
    assert auto == bootstrap_ci(mae, continuous, 400, resamples=200, seed=2, resampling="indices")
    assert auto.resampling == "indices"


def test_count_path_is_deterministic_and_batch_free() -> None:
    metric, inputs = create_metric("f1_macro"), _labels(600, seed=9)
    first = bootstrap_ci(metric, inputs, 600, resamples=300, method="bca", seed=4)
    assert first.resampling == "counts"
    assert first == bootstrap_ci(metric, inputs, 600, resamples=300, method="bca", seed=4, batch=7)
    other = bootstrap_ci(metric, inputs, 600, resamples=300, method="bca", seed=5)
    assert (first.low, first.high) != (other.low, other.high)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_single_category_gives_a_point_interval(method: str) -> None:
    right = MetricInputs("multiclass", np.arange(64) % 4, np.arange(64) % 4, n_classes=4)
    ci = bootstrap_ci(create_metric("accuracy"), right, 64, resamples=100, method=method)
    assert (ci.estimate, ci.low, ci.high, ci.resampling) == (1.0, 1.0, 1.0, "counts")


def test_merge_categories_adds_columns_into_their_targets() -> None:
    counts = np.random.default_rng(1).integers(0, 9, size=(5, 6))
    into = np.array([2, 0, 2, 1, 0, 2])
    merged = merge_categories(counts, into, 4)
    expected = np.stack([counts[:, into == c].sum(axis=1) for c in range(4)], axis=1)
    np.testing.assert_array_equal(merged, expected)
    assert merged.dtype == np.int64


class Mean:
    higher_is_better = True

    def compute(self, x: np.ndarray) -> float:
        return float(np.mean(x))

    def compute_resampled(self, x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return x[indices].mean(axis=1)


class BadCodes(Mean):
    def category_codes(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        return np.zeros(x.size + 1, dtype=np.int64), 1

    def from_counts(self, counts: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.zeros(counts.shape[0])


@pytest.mark.parametrize(
    ("metric", "resampling", "message"),
    [
        (Mean(), "counts", "needs a CategoricalMetric"),
        (Mean(), "multinomial", "unknown resampling"),
        (BadCodes(), "auto", "category_codes gave"),
    ],
)
def test_count_path_errors_say_what_and_how_to_fix(metric, resampling: str, message: str) -> None:
    with pytest.raises(StatsError, match=message) as info:
        bootstrap_ci(metric, np.ones(40), 40, resamples=10, resampling=resampling)
    assert "fix:" in str(info.value)
