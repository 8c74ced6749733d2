"""Prompt sensitivity: how much a score moves over a task's paraphrased templates.

For one model (:func:`template_spread`): per metric, the mean over templates, the standard
deviation (population, ddof 0), the minimum, the maximum and the range. For several models on the
same task (:func:`ranking_sensitivity`): per metric and template, the models ranked best first
(ties keep the given order), and whether that ranking differs between templates, i.e. whether the
choice of wording alone would change which model a table declares better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def template_spread(per_template: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{metric: {mean, std, min, max, range}}`` over the templates of one evaluation."""
    out = {}
    for name in per_template[0]["metrics"]:
        values = np.array([t["metrics"][name] for t in per_template], dtype=np.float64)
        out[name] = {
            "mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max()),
            "range": float(values.max() - values.min()),
        }  # fmt: skip
    return out


def ranking_sensitivity(
    results: dict[str, dict[str, Any]], higher_is_better: dict[str, bool] | None = None
) -> dict[str, dict[str, Any]]:
    """Per metric: the model ranking under each template and whether it changes.

    Args:
        results: model name -> ``metrics.json`` payload, all of the same task (same templates).
        higher_is_better: direction per metric (default: higher is better).

    Returns:
        ``{metric: {"rankings": [[model, ...] per template], "changes": bool,
        "spread": {model: template_spread entry}}}``.
    """
    names = list(results)
    first = results[names[0]]
    out: dict[str, dict[str, Any]] = {}
    for metric in first["per_template"][0]["metrics"]:
        sign = 1.0 if (higher_is_better or {}).get(metric, True) else -1.0
        rankings = []
        for t in range(len(first["per_template"])):
            values = [sign * results[m]["per_template"][t]["metrics"][metric] for m in names]
            order = np.argsort(-np.asarray(values), kind="stable")
            rankings.append([names[i] for i in order])
        out[metric] = {
            "rankings": rankings,
            "changes": any(r != rankings[0] for r in rankings[1:]),
            "spread": {m: results[m]["sensitivity"][metric] for m in names},
        }
    return out
