"""Statistics of the evaluation harness: bootstrap intervals, seed aggregation, paired tests,
multiple-comparison correction.

Metrics plug in through :class:`ResamplableMetric` (``compute`` + vectorised
``compute_resampled``) and, for the randomisation test, :class:`MixableMetric`
(``compute_mixed``).
"""

from polymodal.evaluate.stats._checks import StatsError
from polymodal.evaluate.stats.aggregate import SeedAggregate, aggregate_seeds
from polymodal.evaluate.stats.bootstrap import (
    CI,
    DEFAULT_JACKKNIFE_GROUPS,
    bootstrap_ci,
    bootstrap_distribution,
    jackknife_acceleration,
    jackknife_values,
)
from polymodal.evaluate.stats.multiple import HolmResult, holm
from polymodal.evaluate.stats.paired import (
    McNemar,
    PairedBootstrap,
    PermutationTest,
    mcnemar,
    paired_bootstrap,
    permutation_test_paired,
)
from polymodal.evaluate.stats.protocol import MixableMetric, ResamplableMetric

__all__ = [
    "CI",
    "DEFAULT_JACKKNIFE_GROUPS",
    "HolmResult",
    "McNemar",
    "MixableMetric",
    "PairedBootstrap",
    "PermutationTest",
    "ResamplableMetric",
    "SeedAggregate",
    "StatsError",
    "aggregate_seeds",
    "bootstrap_ci",
    "bootstrap_distribution",
    "holm",
    "jackknife_acceleration",
    "jackknife_values",
    "mcnemar",
    "paired_bootstrap",
    "permutation_test_paired",
]
