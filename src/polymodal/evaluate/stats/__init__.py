"""Statistics of the evaluation harness: bootstrap intervals, seed aggregation, paired tests,
multiple-comparison correction.

Metrics plug in through :class:`ResamplableMetric` (``compute`` + vectorised
``compute_resampled``), optionally :class:`CategoricalMetric` (``category_codes`` +
``from_counts``: exact bootstrap by multinomial category counts, O(K) instead of O(N) per
resample) and, for the randomisation test, :class:`MixableMetric` (``compute_mixed``).
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
from polymodal.evaluate.stats.categorical import (
    COUNTS_BELOW,
    CountStatistic,
    Resampling,
    count_jackknife,
    count_statistic,
    paired_count_statistic,
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
from polymodal.evaluate.stats.protocol import (
    CategoricalMetric,
    MixableMetric,
    ResamplableMetric,
)

__all__ = [
    "CI",
    "COUNTS_BELOW",
    "DEFAULT_JACKKNIFE_GROUPS",
    "CategoricalMetric",
    "CountStatistic",
    "HolmResult",
    "McNemar",
    "MixableMetric",
    "PairedBootstrap",
    "PermutationTest",
    "ResamplableMetric",
    "Resampling",
    "SeedAggregate",
    "StatsError",
    "aggregate_seeds",
    "bootstrap_ci",
    "bootstrap_distribution",
    "count_jackknife",
    "count_statistic",
    "holm",
    "jackknife_acceleration",
    "jackknife_values",
    "mcnemar",
    "paired_bootstrap",
    "paired_count_statistic",
    "permutation_test_paired",
]
