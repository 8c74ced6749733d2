"""Tests of polymodal.evaluate.stats.multiple (Holm) against hand computation and a step-down
procedure written out."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.evaluate.stats import StatsError, holm


def test_holm_by_hand() -> None:
    # sorted: d .005*4=.02, a .01*3=.03, c .03*2=.06, b .04*1=.04 -> running max .06
    result = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005}, alpha=0.05)
    assert result.adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02})
    assert result.reject == {"a": True, "b": False, "c": False, "d": True}
    assert list(result.adjusted) == ["a", "b", "c", "d"]
    assert result.alpha == 0.05


def test_list_input_capped_at_one_and_keyed_by_position() -> None:
    result = holm([0.4, 0.001, 0.3])
    assert result.adjusted == pytest.approx({0: 0.6, 1: 0.003, 2: 0.6})
    assert result.reject == {0: False, 1: True, 2: False}
    assert holm([0.9, 0.8]).adjusted == pytest.approx({0: 1.0, 1: 1.0})


def _step_down(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's sequentially rejective procedure, written as in Holm (1979)."""
    order = np.argsort(p, kind="stable")
    reject = np.zeros(p.size, dtype=bool)
    for rank, index in enumerate(order):
        if p[index] > alpha / (p.size - rank):
            break
        reject[index] = True
    return reject


def test_reject_flags_equal_the_step_down_procedure() -> None:
    rng = np.random.default_rng(0)
    for trial in range(200):
        p = rng.random(rng.integers(1, 12)) ** 3  # many small p-values
        alpha = (0.01, 0.05, 0.1)[trial % 3]
        result = holm(list(p), alpha=alpha)
        adjusted = np.array(list(result.adjusted.values()))
        np.testing.assert_array_equal(list(result.reject.values()), _step_down(p, alpha))
        assert np.all(adjusted >= p)
        order = np.argsort(p, kind="stable")
        assert np.all(np.diff(adjusted[order]) >= 0)  # monotone in the raw order


def test_empty_and_invalid() -> None:
    assert holm({}).adjusted == {}
    with pytest.raises(StatsError, match="not in"):
        holm({"x": 1.5})
    with pytest.raises(StatsError, match="alpha"):
        holm([0.1], alpha=5)
