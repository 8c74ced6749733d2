"""benchmarks/clustered_pairs.py: its unit-clustered test against references (the exact sign
test for one pair per unit; invariance to repeating every unit's pairs, which the pooled test
is not)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "clustered_pairs.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("clustered_pairs", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(n) < 0.8, rng.random(n) < 0.7  # A right, B right


def test_one_pair_per_unit_is_mcnemars_exact_test(script):
    a, b = pairs(300, 0)
    difference = a.astype(int) - b.astype(int)
    discordant_a, discordant = int(np.sum(difference == 1)), int(np.sum(difference != 0))
    exact = stats.binomtest(discordant_a, discordant, 0.5).pvalue
    p = script.clustered_sign_flip(difference, np.arange(300), rounds=200_000)
    assert p == pytest.approx(exact, abs=0.004)  # Monte Carlo error of 200k rounds: ~0.0007


def test_repeating_each_unit_changes_the_pooled_p_not_the_clustered_one(script):
    a, b = pairs(300, 1)
    difference = a.astype(int) - b.astype(int)
    units = np.arange(300)
    once = script.clustered_sign_flip(difference, units, rounds=20_000)
    thrice = script.clustered_sign_flip(np.tile(difference, 3), np.tile(units, 3), rounds=20_000)
    assert thrice == once  # the same coins flip the same (tripled) unit sums
    pooled_once = script.pooled_mcnemar(a, b)
    pooled_thrice = script.pooled_mcnemar(np.tile(a, 3), np.tile(b, 3))
    assert pooled_thrice < pooled_once / 5  # the pooled test counts each unit three times
