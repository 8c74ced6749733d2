"""Tests of polymodal.evaluate.stats.aggregate against numpy and scipy.stats.t."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from polymodal.evaluate.stats import StatsError, aggregate_seeds


def test_mean_std_and_t_interval_match_numpy_and_scipy() -> None:
    values = {0: 0.812, 1: 0.797, 2: 0.825, 42: 0.803, 7: 0.790}
    result = aggregate_seeds(values, level=0.9)
    array = np.array(list(values.values()))
    assert result.mean == pytest.approx(array.mean(), rel=1e-15)
    assert result.std == pytest.approx(array.std(ddof=1), rel=1e-15)
    assert result.n == 5
    low, high = scipy.stats.t.interval(0.9, 4, loc=array.mean(), scale=scipy.stats.sem(array))
    assert result.ci == pytest.approx((low, high), rel=1e-12)
    assert result.level == 0.9
    assert result.per_seed == values
    assert list(result.per_seed) == [0, 1, 2, 42, 7]  # input order kept


def test_list_input_is_keyed_by_position() -> None:
    result = aggregate_seeds([1.0, 2.0, 4.0])
    assert result.per_seed == {0: 1.0, 1: 2.0, 2: 4.0}
    assert result.std == pytest.approx(math.sqrt(7 / 3))
    half = scipy.stats.t.ppf(0.975, 2) * math.sqrt(7 / 3) / math.sqrt(3)
    assert result.ci == pytest.approx((7 / 3 - half, 7 / 3 + half))


def test_identical_seeds_give_point_interval() -> None:
    result = aggregate_seeds([0.5, 0.5, 0.5])
    assert (result.std, result.ci) == (0.0, (0.5, 0.5))


def test_single_seed_has_undefined_spread() -> None:
    result = aggregate_seeds({3: 0.7})
    assert (result.mean, result.n) == (0.7, 1)
    assert math.isnan(result.std)
    assert all(math.isnan(bound) for bound in result.ci)


def test_bad_values_are_reported_by_seed() -> None:
    with pytest.raises(StatsError, match="seed 13"):
        aggregate_seeds({1: 0.5, 13: float("nan")})
    with pytest.raises(StatsError, match="no values"):
        aggregate_seeds([])
