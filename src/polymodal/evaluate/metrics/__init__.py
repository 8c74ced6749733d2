"""Metrics computed from a predictions table, each checked against a reference implementation.

Every metric is registered in :data:`polymodal.registry.METRICS` (``METRICS.names()`` lists
them) and states its direction (``higher_is_better``, declared once, on its class) and its
convention; :func:`compute_metrics` computes named metrics from a
table, and :meth:`Metric.compute_resampled` gives bootstrap values in one vectorised call.
Retrieval metrics work on embeddings instead (:mod:`polymodal.evaluate.metrics.retrieval`).
"""

from polymodal.evaluate.metrics.base import Metric, SumMetric, WeightedMetric
from polymodal.evaluate.metrics.calibration import reliability_diagram
from polymodal.evaluate.metrics.inputs import (
    MetricError,
    MetricInputs,
    MetricValue,
    MetricWarning,
    MissingScoresError,
    inputs_from_table,
)
from polymodal.evaluate.metrics.retrieval import (
    Positives,
    RetrievalRanks,
    image_text_retrieval,
    rank_queries,
    retrieval_metrics,
)
from polymodal.evaluate.metrics.table import (
    MetricReport,
    compute_metrics,
    create_metric,
    default_metrics,
    evaluate_metrics,
    flatten_value,
    metric_direction,
    parse_metric_spec,
    with_options,
)

__all__ = [
    "Metric",
    "MetricError",
    "MetricInputs",
    "MetricReport",
    "MetricValue",
    "MetricWarning",
    "MissingScoresError",
    "Positives",
    "RetrievalRanks",
    "SumMetric",
    "WeightedMetric",
    "compute_metrics",
    "create_metric",
    "default_metrics",
    "evaluate_metrics",
    "flatten_value",
    "image_text_retrieval",
    "inputs_from_table",
    "metric_direction",
    "parse_metric_spec",
    "rank_queries",
    "reliability_diagram",
    "retrieval_metrics",
    "with_options",
]
