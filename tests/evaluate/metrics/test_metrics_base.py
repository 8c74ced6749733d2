"""The metric contract: table reading, registry, errors, resampled and mixed values."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from polymodal.errors import DataError, PolymodalError, UnknownComponentError
from polymodal.evaluate.metrics import (
    MetricError,
    MetricInputs,
    compute_metrics,
    create_metric,
    default_metrics,
    inputs_from_table,
    metric_direction,
)
from polymodal.evaluate.metrics.sums import multiplicities, offset_bincount
from polymodal.registry import METRICS

KIND_OF_TASK = {"multiclass": "multiclass", "multilabel": "multilabel", "regression": "sentiment"}


def test_every_registered_metric_declares_its_direction_once():
    for name in METRICS.names():
        metric = create_metric(name)
        assert METRICS.entry(name).meta == {}, f"{name}: direction/task belong to the class"
        assert metric_direction(name) is metric.higher_is_better
        assert metric.task, f"{name} states no task"
        assert metric.convention, f"{name} states no convention"
    assert set(default_metrics("multiclass")) <= set(METRICS.names())


def _table(inputs: MetricInputs) -> pd.DataFrame:
    multiclass = inputs.task_type == "multiclass"
    return pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(len(inputs))],
            "target": inputs.target.tolist() if multiclass else list(inputs.target.tolist()),
            "prediction": inputs.prediction.tolist(),
            "scores": list(inputs.scores.tolist()),
            "present_image": True,
            "perturbation": "none",
            "severity": 0,
        }
    )


@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "sentiment"])
def test_parquet_table_round_trip(make_inputs, kind):
    inputs = make_inputs(kind, 3)
    buffer = io.BytesIO()
    _table(inputs).to_parquet(buffer, index=False)
    table = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    read = inputs_from_table(table, inputs.task_type)
    np.testing.assert_array_equal(read.target, inputs.target)
    np.testing.assert_array_equal(read.prediction, inputs.prediction)
    np.testing.assert_array_equal(read.scores, inputs.scores)
    values = compute_metrics(table, inputs.task_type)
    assert list(values) == default_metrics(inputs.task_type)
    for name, value in values.items():
        assert value == pytest.approx(float(create_metric(name).compute(inputs)), abs=1e-12)


def test_compute_metrics_flattens_dicts_and_matrices(multiclass_inputs):
    table = _table(multiclass_inputs)
    values = compute_metrics(table, "multiclass", ["f1_per_class", "confusion_matrix"])
    matrix = create_metric("confusion_matrix").compute(multiclass_inputs)
    assert values["confusion_matrix/1/2"] == matrix[1][2]
    assert sum(v for k, v in values.items() if k.startswith("confusion")) == len(table)
    assert set(k for k in values if k.startswith("f1_per_class/")) == {
        f"f1_per_class/{c}" for c in range(4)
    }


def test_unknown_metric_lists_known_names(multiclass_inputs):
    with pytest.raises(UnknownComponentError, match="accuracy"):
        compute_metrics(_table(multiclass_inputs), "multiclass", ["acuracy"])


def test_metric_of_another_task_is_a_clear_error(multiclass_inputs):
    with pytest.raises(PolymodalError, match="applies to regression"):
        compute_metrics(_table(multiclass_inputs), "multiclass", ["accuracy", "mae"])
    with pytest.raises(MetricError, match="applies to multiclass"):
        create_metric("accuracy").compute(
            MetricInputs("regression", np.zeros((3, 1)), np.zeros((3, 1)))
        )


def test_table_problems_are_data_errors(multiclass_inputs):
    table = _table(multiclass_inputs)
    with pytest.raises(DataError, match="missing column"):
        inputs_from_table(table.drop(columns="prediction"), "multiclass")
    ragged = table.copy()
    ragged.at[0, "scores"] = [0.5, 0.5]
    with pytest.raises(DataError, match="different lengths"):
        inputs_from_table(ragged, "multiclass")
    mixed = pd.concat([table, table.assign(perturbation="noise", severity=1)])
    with pytest.raises(MetricError, match="mixes 2 perturbation conditions"):
        compute_metrics(mixed, "multiclass")


def test_bincount_helpers_against_loops():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 6, (4, 9))
    w = multiplicities(idx, 6)
    for r in range(4):
        np.testing.assert_array_equal(w[r], np.bincount(idx[r], minlength=6))
    weights = rng.random((4, 9))
    sums = offset_bincount(idx, 6, weights)
    for r in range(4):
        np.testing.assert_allclose(sums[r], np.bincount(idx[r], weights[r], minlength=6))


def _scalar_metrics() -> list[tuple[str, str]]:
    out = []
    for name in METRICS.names():
        metric = create_metric(name)
        if metric.scalar:
            out.extend((name, task) for task in metric.task)
    return out


@pytest.mark.parametrize(("name", "task"), _scalar_metrics())
def test_resampled_and_mixed_equal_compute_per_row(make_inputs, name, task):
    metric = create_metric(name)
    kind = KIND_OF_TASK[task]
    a, b = make_inputs(kind, 10), make_inputs(kind, 11)
    b = MetricInputs(a.task_type, a.target, b.prediction, b.scores)  # run B, same samples
    rng = np.random.default_rng(5)
    n = len(a)
    boot = rng.integers(0, n, (6, n))
    jack = np.array([np.delete(np.arange(n), [i, i + 1]) for i in (0, 7, 30)])  # M = N - 2
    for indices in (boot, jack):
        expected = [float(metric.compute(a.take(row))) for row in indices]
        np.testing.assert_allclose(
            metric.compute_resampled(a, indices), expected, rtol=1e-9, atol=1e-12
        )
    take_b = rng.random((5, n)) < 0.5
    take_b[0], take_b[1] = False, True
    expected = [float(metric.compute(a.mix(b, row))) for row in take_b]
    mixed = metric.compute_mixed(a, b, take_b)
    np.testing.assert_allclose(mixed, expected, rtol=1e-9, atol=1e-12)
    assert mixed[0] == pytest.approx(float(metric.compute(a)), abs=1e-12)
    assert mixed[1] == pytest.approx(float(metric.compute(b)), abs=1e-12)


def test_resampled_rejects_bad_indices_and_non_scalar_metrics(multiclass_inputs):
    metric = create_metric("accuracy")
    with pytest.raises(MetricError, match=r"\[0, 60\)"):
        metric.compute_resampled(multiclass_inputs, np.full((2, 60), 60))
    with pytest.raises(MetricError, match="int array"):
        metric.compute_resampled(multiclass_inputs, np.zeros(60, dtype=int))
    with pytest.raises(MetricError, match="not a single number"):
        create_metric("f1_per_class").compute_resampled(
            multiclass_inputs, np.zeros((1, 60), dtype=int)
        )


def test_mixing_runs_with_different_targets_is_refused(make_inputs):
    a, b = make_inputs("multiclass", 1), make_inputs("multiclass", 2)
    with pytest.raises(MetricError, match="different targets"):
        create_metric("accuracy").compute_mixed(a, b, np.zeros((1, len(a)), bool))
