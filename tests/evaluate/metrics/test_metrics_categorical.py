"""The count form of sum metrics: category codes of equal per-sample statistics and
``from_counts``, against ``compute`` on the same samples."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.evaluate.metrics import MetricError, MetricInputs, create_metric
from polymodal.evaluate.metrics.sums import (
    ROW_BINCOUNT_FROM,
    KeyedStat,
    distinct_rows,
    multiplicities,
    offset_bincount,
    row_bincounts,
    stat_categories,
)
from polymodal.evaluate.stats import CategoricalMetric
from polymodal.registry import METRICS

KIND_OF_TASK = {"multiclass": "multiclass", "multilabel": "multilabel", "regression": "sentiment"}

CATEGORICAL = {
    "multiclass": {
        "accuracy",
        "balanced_accuracy",
        "top5_accuracy",
        "top_k_accuracy",
        "precision_binary",
        "recall_binary",
        "f1_binary",
        *(
            f"{s}_{a}"
            for s in ("precision", "recall", "f1")
            for a in ("macro", "micro", "weighted")
        ),
    },
    "multilabel": {
        "hamming_loss",
        "subset_accuracy",
        *(
            f"{s}_{a}"
            for s in ("precision", "recall", "f1")
            for a in ("macro", "micro", "weighted")
        ),
    },
    "regression": {
        "acc2_nonneg",
        "acc2_nonzero",
        "acc2_zero_negative",
        "acc3",
        "acc5",
        "acc7",
        "f1_nonneg",
        "f1_nonzero",
    },
}
"""Metrics of few categories on the inputs below (the rest have about one per sample)."""

FRACTIONAL = {"hamming_loss"}
"""Few categories, but statistics that are not integers (wrong labels / L): sums are exact up
to rounding only."""


def _assert_equal(name: str, values: np.ndarray, expected: list[float]) -> None:
    """Bit for bit for integer statistics, else to rounding."""
    if name in FRACTIONAL:
        np.testing.assert_allclose(values, expected, rtol=1e-12)
    else:
        np.testing.assert_array_equal(values, expected)


def _countable() -> list[tuple[str, str]]:
    return [
        (name, task)
        for name in METRICS.names()
        for task in create_metric(name).task
        if isinstance(create_metric(name), CategoricalMetric)
    ]


def _inputs(make_inputs, task: str, seed: int) -> MetricInputs:
    sizes = {"multiclass": {"c": 8}, "multilabel": {"labels": 3}, "regression": {}}[task]
    return make_inputs(KIND_OF_TASK[task], seed, n=400, **sizes)


@pytest.mark.parametrize(("name", "task"), _countable())
def test_from_counts_of_all_samples_equals_compute(make_inputs, name: str, task: str) -> None:
    metric, inputs = create_metric(name), _inputs(make_inputs, task, 3)
    codes, k = metric.category_codes(inputs)
    value = metric.from_counts(np.bincount(codes, minlength=k)[None, :], inputs)
    assert value.shape == (1,)
    if name in CATEGORICAL[task]:
        assert k <= 64  # few categories: these are the metrics the count bootstrap serves
        _assert_equal(name, value, [metric.compute(inputs)])
    else:
        assert k == len(inputs)  # continuous statistics: one category per sample
        assert value[0] == pytest.approx(float(metric.compute(inputs)), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize(("name", "task"), _countable())
def test_from_counts_of_a_resample_equals_compute_on_it(make_inputs, name: str, task: str) -> None:
    metric, inputs = create_metric(name), _inputs(make_inputs, task, 4)
    codes, k = metric.category_codes(inputs)
    rows = list(np.random.default_rng(2).integers(0, len(inputs), size=(4, len(inputs))))
    rows.append(np.arange(1, len(inputs)))  # and a leave-one-out row (M = N - 1)
    counts = np.stack([np.bincount(codes[row], minlength=k) for row in rows])  # [R, K]
    expected = [float(metric.compute(inputs.take(row))) for row in rows]
    values = metric.from_counts(counts, inputs)
    if name in CATEGORICAL[task]:
        _assert_equal(name, values, expected)
    else:
        np.testing.assert_allclose(values, expected, rtol=1e-10, atol=1e-13)


def test_categories_are_the_distinct_statistic_rows(make_inputs) -> None:
    inputs = make_inputs("multilabel", 5, n=300, labels=3)
    metric = create_metric("f1_macro")
    stats = metric.sample_stats(inputs)
    categories = stat_categories(stats, 300)
    rows, inverse = np.unique(stats.dense, axis=0, return_inverse=True)
    assert categories.count == len(rows)
    # same code <=> same statistics row: the two partitions are one relabelling of the other
    pairs = np.unique(np.stack([categories.codes, inverse.reshape(-1)]), axis=1)
    assert pairs.shape[1] == len(rows)
    np.testing.assert_array_equal(categories.stats.dense[categories.codes], stats.dense)


def test_distinct_rows_of_mixed_columns_and_the_one_per_sample_fallback() -> None:
    rng = np.random.default_rng(0)
    flags = rng.integers(0, 2, 200).astype(np.float64)
    thirds = rng.integers(-3, 4, 200) / 3.0  # non-integer floats: through np.unique
    keys = rng.integers(0, 5, 200)
    codes, k = distinct_rows([flags, thirds, keys], 200)
    table = np.stack([flags, thirds, keys.astype(np.float64)], axis=1)
    assert k == len(np.unique(table, axis=0))
    for c in range(k):
        assert len(np.unique(table[codes == c], axis=0)) == 1
    continuous = rng.normal(size=200)
    codes, k = distinct_rows([continuous], 200)
    assert k == 200
    np.testing.assert_array_equal(codes, np.arange(200))


def test_from_counts_rejects_bad_counts(multiclass_inputs) -> None:
    metric = create_metric("accuracy")
    _, k = metric.category_codes(multiclass_inputs)
    for bad, message in [
        (np.ones((1, k + 1), dtype=int), "int array"),
        (np.ones((1, k)), "int array"),
        (np.ones(k, dtype=int), "int array"),
        (-np.ones((1, k), dtype=int), "non-negative"),
    ]:
        with pytest.raises(MetricError, match=message):
            metric.from_counts(bad, multiclass_inputs)


def test_ranking_and_per_class_metrics_are_not_categorical() -> None:
    for name in ("auroc", "auprc", "spearman", "f1_per_class", "confusion_matrix"):
        assert not isinstance(create_metric(name), CategoricalMetric), name


def test_resampled_rejects_negative_indices(multiclass_inputs) -> None:
    indices = np.zeros((2, 60), dtype=np.int64)
    indices[1, 5] = -1
    with pytest.raises(MetricError, match=r"\[0, 60\)"):
        create_metric("accuracy").compute_resampled(multiclass_inputs, indices)


@pytest.mark.parametrize("name", ["f1_macro", "ece", "auroc", "accuracy"])
def test_long_rows_counted_per_row_equal_compute(make_inputs, name: str) -> None:
    # rows of >= ROW_BINCOUNT_FROM entries take the per-row bincount path
    n = ROW_BINCOUNT_FROM + 100
    metric, inputs = create_metric(name), make_inputs("multiclass", 6, n=n)
    rows = np.random.default_rng(3).integers(0, n, size=(3, n))
    expected = [float(metric.compute(inputs.take(row))) for row in rows]
    np.testing.assert_allclose(metric.compute_resampled(inputs, rows), expected, rtol=1e-12)


def test_per_row_and_offset_bincounts_agree() -> None:
    rng = np.random.default_rng(4)
    n = ROW_BINCOUNT_FROM
    rows = rng.integers(0, n, size=(3, n))
    np.testing.assert_array_equal(multiplicities(rows, n), offset_bincount(rows, n, None))
    stat = KeyedStat(rng.integers(0, 6, n), 5, rng.random(n))  # key 5 = "adds nothing"
    expected = offset_bincount(stat.keys[rows], 6, stat.weights[rows])[:, :5]
    np.testing.assert_allclose(row_bincounts(stat, rows), expected, rtol=1e-12)
