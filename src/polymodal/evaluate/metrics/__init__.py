"""Metrics computed from a predictions table, each checked against a reference implementation.

Every metric is registered in :data:`polymodal.registry.METRICS` (``METRICS.names()`` lists them)
and states its direction and convention; :func:`compute_metrics` computes named metrics from a
table, and :meth:`Metric.compute_resampled` gives bootstrap values in one vectorised call.
Retrieval metrics work on embeddings instead (:mod:`polymodal.evaluate.metrics.retrieval`).
"""

from polymodal.evaluate.metrics.base import (
    Metric,
    MetricError,
    MetricInputs,
    MetricValue,
    compute_metrics,
    create_metric,
    default_metrics,
    flatten_value,
    inputs_from_table,
)
from polymodal.evaluate.metrics.calibration import reliability_diagram
from polymodal.evaluate.metrics.retrieval import (
    Positives,
    RetrievalRanks,
    image_text_retrieval,
    rank_queries,
    retrieval_metrics,
)

__all__ = [
    "Metric",
    "MetricError",
    "MetricInputs",
    "MetricValue",
    "Positives",
    "RetrievalRanks",
    "compute_metrics",
    "create_metric",
    "default_metrics",
    "flatten_value",
    "image_text_retrieval",
    "inputs_from_table",
    "rank_queries",
    "reliability_diagram",
    "retrieval_metrics",
]
