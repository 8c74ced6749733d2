"""Metrics of evaluation tasks, computed from the predictions table with intervals and paired tests.

Each name resolves, for an output type, to a :class:`TaskMetric` whose ``prepare(table)`` returns
a metric object of the statistics contract (:class:`~polymodal.evaluate.stats.ResamplableMetric`)
and its inputs, so :func:`~polymodal.evaluate.stats.bootstrap_ci` and
:func:`~polymodal.evaluate.stats.paired_bootstrap` work on every one:

- per-sample means (0-1): ``accuracy`` (the extracted answer equals a reference after SQuAD
  normalisation; multiple choice: the chosen choice is the target), ``vqa_accuracy`` (VQA
  normalisation: lower case, punctuation and articles removed, number words as digits; score
  ``min(1, matches / min(3, references))``: VQA's 3-of-10 rule, so with one reference, as in
  easy-vqa, a match scores 1), ``recall@K`` (the first relevant candidate is in the top K) and
  ``mrr`` for ranking;
- generation corpus metrics (:data:`~polymodal.evaluate.generation.GENERATION_METRICS`: bleu,
  chrf, ter, rouge*, cider_d, meteor, exact_match, token_f1) over extracted answers and
  references; BLEU's tokenizer is ``zh`` when the references are Chinese;
- yes/no: the classification metrics (``accuracy``, ``balanced_accuracy``, ``f1_binary``,
  ``precision_binary``, ``recall_binary``, ``auroc``, ``auprc``) with "yes" as the positive class
  and P(yes) as its score.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from polymodal.tasks.extract import normalise

BINARY_METRICS = (
    "accuracy", "balanced_accuracy", "f1_binary", "precision_binary", "recall_binary",
    "auroc", "auprc",
)  # fmt: skip
_RECALL = re.compile(r"^recall@([1-9][0-9]*)$")
_NUMBERS = dict(
    zip(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
        map(str, range(11)),
        strict=True,
    )
)


@dataclass(frozen=True)
class TaskMetric:
    """A named metric of a task: ``prepare(table) -> (metric, inputs)`` for the statistics."""

    name: str
    higher_is_better: bool
    convention: str
    prepare: Callable[[pd.DataFrame], tuple[Any, Any]]


class MeanMetric:
    """The mean of per-sample values (the statistics' contract on a float ``[N]`` array)."""

    higher_is_better = True

    def compute(self, inputs: np.ndarray) -> float:
        return float(np.mean(inputs))

    def compute_resampled(self, inputs: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return inputs[np.asarray(indices)].mean(axis=1)


def vqa_normalise(text: str) -> str:
    """VQA-style answer normalisation: SQuAD's, then number words as digits."""
    return " ".join(_NUMBERS.get(w, w) for w in normalise(text).split())


def _accuracy_values(table: pd.DataFrame) -> np.ndarray:
    return np.array(
        [
            float(normalise(a) in {normalise(r) for r in refs})
            for a, refs in zip(table["answer"], table["references"], strict=True)
        ]
    )


def _vqa_values(table: pd.DataFrame) -> np.ndarray:
    values = []
    for answer, refs in zip(table["answer"], table["references"], strict=True):
        matches = sum(vqa_normalise(answer) == vqa_normalise(r) for r in refs)
        values.append(min(1.0, matches / max(1, min(3, len(refs)))))
    return np.array(values)


def _mean(values: Callable[[pd.DataFrame], np.ndarray]) -> Callable[..., tuple[Any, Any]]:
    return lambda table: (MeanMetric(), values(table).astype(np.float64))


def _generation(name: str) -> TaskMetric:
    from polymodal.evaluate.generation import generation_metric

    metric = generation_metric(name)

    def prepare(table: pd.DataFrame) -> tuple[Any, Any]:
        from polymodal.evaluate.generation import guess_tokenizer, score_texts
        from polymodal.evaluate.generation.corpus import GenerationInputs

        answers = [str(a) for a in table["answer"]]
        refs = [list(r) for r in table["references"]]
        stats, options = score_texts(answers, refs, [name], tokenize=guess_tokenizer(refs))
        return metric, GenerationInputs(stats, len(table), options)

    return TaskMetric(name, metric.higher_is_better, metric.convention, prepare)


def _binary(name: str) -> TaskMetric:
    from polymodal.evaluate.metrics import MetricInputs, create_metric

    metric = create_metric(name)

    def prepare(table: pd.DataFrame) -> tuple[Any, Any]:
        p_yes = table["p_yes"].to_numpy(dtype=np.float64)
        target = (table["target"] == table["positive"]).to_numpy().astype(np.int64)
        prediction = (p_yes >= 0.5).astype(np.int64)
        scores = np.stack([1.0 - p_yes, p_yes], axis=1)
        return metric, MetricInputs("multiclass", target, prediction, scores, n_classes=2)

    return TaskMetric(
        name, metric.higher_is_better, f"{metric.convention}; positive class: yes", prepare
    )


def _ranking(name: str) -> TaskMetric:
    match = _RECALL.match(name)
    if match:
        k = int(match.group(1))
        return TaskMetric(
            name, True, f"share of queries whose first relevant candidate ranks <= {k}",
            _mean(lambda t: (t["rank"].to_numpy() <= k).astype(float)),
        )  # fmt: skip
    return TaskMetric(
        "mrr", True, "mean of 1 / rank of the first relevant candidate",
        _mean(lambda t: 1.0 / t["rank"].to_numpy(dtype=np.float64)),
    )  # fmt: skip


def _allowed(output_type: str) -> list[str]:
    from polymodal.evaluate.generation import GENERATION_METRICS

    return {
        "generate": ["accuracy", "vqa_accuracy", *GENERATION_METRICS],
        "multiple_choice": ["accuracy"],
        "yes_no": list(BINARY_METRICS),
        "ranking": ["recall@K", "mrr"],
    }[output_type]


def metric_problem(name: str, output_type: str) -> str | None:
    """Why ``name`` is not a metric of ``output_type`` tasks, or None."""
    allowed = _allowed(output_type)
    if name in allowed or (output_type == "ranking" and _RECALL.match(name)):
        return None
    return f"unknown metric {name!r} for output {output_type} (allowed: {', '.join(allowed)})"


def task_metric(name: str, output_type: str) -> TaskMetric:
    """The metric ``name`` of an ``output_type`` task (checked by :func:`metric_problem`)."""
    from polymodal.errors import PolymodalError

    problem = metric_problem(name, output_type)
    if problem:
        raise PolymodalError(problem, fix="name a metric the task's output type allows")
    if output_type == "yes_no":
        return _binary(name)
    if output_type == "ranking":
        return _ranking(name)
    if name == "accuracy":
        return TaskMetric(name, True, "answer equals a reference (SQuAD normalisation)",
                          _mean(_accuracy_values))  # fmt: skip
    if name == "vqa_accuracy":
        return TaskMetric(name, True, "VQA normalisation, min(1, matches / min(3, refs))",
                          _mean(_vqa_values))  # fmt: skip
    return _generation(name)


def per_sample(metric: Any, inputs: Any, n: int) -> np.ndarray:
    """float64 ``[N]``: the metric on each sample alone (sentence-level for corpus metrics)."""
    return np.asarray(metric.compute_resampled(inputs, np.arange(n)[:, None]), dtype=np.float64)
