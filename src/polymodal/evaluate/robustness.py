"""The robustness protocol: predictions under perturbations, curves, and summary scores.

:func:`robustness_table` runs a model once per condition (modality x perturbation kind x
severity, see :mod:`polymodal.evaluate.perturb`) into one predictions table, with
``perturbation = "<kind>:<modality>"`` and ``severity``. The clean run appears once, as
``perturbation = "none", severity = 0``: severity 0 is the identity for every perturbation, so it
is never recomputed per curve; :func:`robustness_curves` takes the severity-0 point of every
curve from the ``none`` rows. Everything after the table is computed from tables only.

Summary scores of a curve ``v(s)`` of metric values over severities ``s_0 = 0 < ... < s_K``
(trapezoid rule over the severities present, ``span = s_K - s_0``):

- **relative robustness** (normalised area under the curve)::

      A  = (1 / span) * trapz(v(s) / v(0), s)      # mean fraction of the clean value kept
      RR = A        if the metric is higher-is-better
      RR = 1 / A    if it is lower-is-better (an error that doubles everywhere gives 0.5)

  RR = 1 when the perturbation changes nothing (exactly 1 for a flat curve), < 1 when it hurts.
  It is NaN when ``v(0) = 0`` (or, lower-is-better, the area is 0) unless the curve is flat.
  It assumes a metric that is positive on the clean data (accuracy, F1, MAE, ...).

- **effective robustness** against a reference model evaluated with the same protocol in the
  same run (its own table). Following Taori et al. 2020 ("Measuring robustness to natural
  distribution shifts in image classification") and MultiBench (Liang et al. 2021), it is the
  model's perturbed performance minus the performance predicted for it from its clean
  performance. The prediction comes from the reference's curve: the model is expected to keep,
  at each severity, the same fraction of its clean value as the reference keeps (a line through
  the origin and the reference's point, the one-reference case of Taori et al.'s fit)::

      predicted(s) = v(0) * v_ref(s) / v_ref(0)
      ER = (1 / span) * trapz(v(s) - predicted(s), s)      # higher-is-better
      ER = (1 / span) * trapz(predicted(s) - v(s), s)      # lower-is-better

  In the metric's units; > 0 means more robust than the reference. For a higher-is-better
  metric, ``ER = v(0) * (RR - RR_ref)``. The reference must cover every severity of each curve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from polymodal.data.loading import make_dataloader
from polymodal.data.schema import ModalitySpec, Sample, TaskSpec, TaskType
from polymodal.errors import PolymodalError
from polymodal.evaluate.metrics import compute_metrics, create_metric
from polymodal.evaluate.perturb import PERTURBATIONS, check_severity, perturb_batch
from polymodal.evaluate.predict import predict_table

CLEAN = "none"
"""The ``perturbation`` label of the clean evaluation."""

CURVE_COLUMNS = ["modality", "kind", "severity", "value"]


class RobustnessError(PolymodalError, ValueError):
    """A robustness table, curve or reference cannot be used."""


def used_modalities(model: torch.nn.Module, specs: Mapping[str, ModalitySpec]) -> list[str]:
    """The modalities ``model`` reads (its ``encoders`` keys), else every key of ``specs``."""
    encoders = getattr(model, "encoders", None)
    return list(encoders.keys()) if encoders is not None else list(specs)


def check_modalities(modalities: Sequence[str], specs: Mapping[str, ModalitySpec]) -> list[str]:
    """``modalities`` as a list, each checked to be in ``specs``."""
    unknown = [m for m in modalities if m not in specs]
    if unknown:
        raise RobustnessError(
            f"unknown modalities {unknown}",
            fix=f"use modalities of the dataset: {', '.join(specs)}",
        )
    return list(modalities)


def robustness_table(
    model: torch.nn.Module,
    dataset: Dataset[Sample],
    specs: Mapping[str, ModalitySpec],
    task: TaskSpec,
    *,
    modalities: Sequence[str] | None = None,
    kinds: Sequence[str] = ("drop", "noise", "mask"),
    severities: Iterable[int] = range(0, 6),
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Predictions of ``model`` on ``dataset`` under every (modality, kind, severity) condition.

    Args:
        model: a model with ``forward(Batch)`` and ``predict`` (a ``MultimodalModel``).
        dataset: the samples (e.g. a test split).
        specs: modality specs to collate (every modality the model reads).
        task: the dataset's task.
        modalities: modalities to perturb, one at a time (None: the model's modalities).
        kinds: registered perturbation names.
        severities: severities of each curve, in 0..5; 0 is the clean run (always computed
            once, as ``perturbation="none"``).
        batch_size: evaluation batch size (batches are the same for every condition).
        seed: seed of the perturbations.
        device: where the model runs.

    Returns:
        The concatenated predictions tables (schema of :mod:`polymodal.evaluate.predict`):
        the clean rows first, then one block per ``(modality, kind, severity > 0)``.
    """
    modalities = check_modalities(
        used_modalities(model, specs) if modalities is None else modalities, specs
    )
    for kind in kinds:
        PERTURBATIONS.entry(kind)  # unknown kind: error listing the known ones
    levels = sorted({check_severity(s) for s in severities})
    loader = make_dataloader(dataset, dict(specs), batch_size=batch_size)
    tables = [predict_table(model, loader, task, device=device)]
    for modality in modalities:
        for kind in kinds:
            for severity in levels:
                if severity == 0:
                    continue  # the identity: the clean rows serve every curve
                batches = (
                    perturb_batch(batch, modality, kind, severity, specs, seed) for batch in loader
                )
                tables.append(
                    predict_table(
                        model,
                        batches,
                        task,
                        perturbation=f"{kind}:{modality}",
                        severity=severity,
                        device=device,
                    )
                )
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Curves


def parse_perturbation(label: str) -> tuple[str, str] | None:
    """``"<kind>:<modality>"`` -> ``(kind, modality)`` for a registered kind; None otherwise
    (the clean label, or conditions of other protocols such as contribution's ``keep:``)."""
    kind, sep, modality = str(label).partition(":")
    if not sep or kind not in PERTURBATIONS or not modality:
        return None
    return kind, modality


def condition_value(df: pd.DataFrame, task_type: TaskType, metric: str) -> float:
    """The scalar ``metric`` on the rows of one condition."""
    values = compute_metrics(df, task_type, [metric])
    if metric not in values:
        raise RobustnessError(
            f"metric {metric!r} is not a single number ({sorted(values)[:3]} ...)",
            fix="use a scalar metric, e.g. accuracy, f1_macro or mae",
        )
    return float(values[metric])


def _check_table(table: pd.DataFrame, where: str) -> None:
    missing = [c for c in ("perturbation", "severity") if c not in table.columns]
    if missing:
        raise RobustnessError(
            f"missing column(s) {missing}",
            where=where,
            fix="give a table made by robustness_table (or predict_table)",
        )
    if not bool((table["perturbation"] == CLEAN).any()):
        raise RobustnessError(
            "the table has no clean rows (perturbation 'none'), which give severity 0 of every "
            "curve",
            where=where,
            fix="give the whole table of robustness_table",
        )


def robustness_curves(table: pd.DataFrame, task_type: TaskType, metric: str) -> pd.DataFrame:
    """Metric-versus-severity curves from a robustness table.

    Returns:
        A DataFrame with columns ``modality, kind, severity, value``, sorted by them; each curve
        starts at severity 0 with the clean value (from the ``none`` rows, unless the table has
        rows of that curve at severity 0). Rows of other protocols (``keep:``) are not curves
        and are left out.
    """
    _check_table(table, "robustness table")
    clean = condition_value(table[table["perturbation"] == CLEAN], task_type, metric)
    points: dict[tuple[str, str, int], float] = {}
    for (label, severity), rows in table.groupby(["perturbation", "severity"], sort=True):
        parsed = parse_perturbation(str(label))
        if parsed is None:
            continue
        kind, modality = parsed
        points[(modality, kind, int(severity))] = condition_value(rows, task_type, metric)
    for modality, kind in {(m, k) for m, k, _ in points}:
        points.setdefault((modality, kind, 0), clean)
    curves = pd.DataFrame([(m, k, s, v) for (m, k, s), v in points.items()], columns=CURVE_COLUMNS)
    curves = curves.astype({"severity": "int64", "value": "float64"})
    return curves.sort_values(["modality", "kind", "severity"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Summaries


def _span(severities: np.ndarray) -> float:
    span = float(severities[-1] - severities[0])
    if len(severities) < 2 or span <= 0:
        raise RobustnessError(
            f"a curve needs at least two severities, got {severities.tolist()}",
            fix="evaluate at least one severity above 0",
        )
    return span


def relative_robustness(
    severities: Sequence[int], values: Sequence[float], *, higher_is_better: bool
) -> float:
    """Normalised area under one curve (see the module's notes); ``severities`` ascending,
    starting with the clean point."""
    s = np.asarray(severities, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    span = _span(s)
    if np.all(v == v[0]):
        return 1.0
    if v[0] == 0:
        return float("nan")
    area = float(np.trapezoid(v / v[0], s)) / span  # mean fraction of the clean value kept
    if higher_is_better:
        return area
    return float("nan") if area == 0 else 1.0 / area


def effective_robustness(
    severities: Sequence[int],
    values: Sequence[float],
    reference_values: Sequence[float],
    *,
    higher_is_better: bool,
) -> float:
    """Mean gap between a curve and the curve the reference predicts for it (see the module's
    notes); both curves on the same ascending severities, starting with the clean point."""
    s = np.asarray(severities, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    ref = np.asarray(reference_values, dtype=np.float64)
    span = _span(s)
    if ref[0] == 0:
        return float("nan")
    predicted = v[0] * ref / ref[0]  # the model keeps the reference's fraction of its clean value
    gap = v - predicted if higher_is_better else predicted - v
    return float(np.trapezoid(gap, s)) / span


def robustness_summary(
    table: pd.DataFrame,
    task_type: TaskType,
    metric: str,
    reference_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Summary scores of every curve of a robustness table.

    Args:
        table: the model's robustness table.
        task_type: the task type of the predictions.
        metric: a registered scalar metric; its ``higher_is_better`` sets the direction.
        reference_table: a reference model's robustness table of the same run (same samples,
            same curves and severities), for effective robustness.

    Returns:
        One row per curve: ``modality, kind, metric, clean, worst`` (the value at the highest
        severity), ``relative_robustness``, and with a reference also ``reference_clean``,
        ``reference_relative_robustness`` and ``effective_robustness``.
    """
    higher = bool(create_metric(metric).higher_is_better)
    curves = robustness_curves(table, task_type, metric)
    reference = None
    if reference_table is not None:
        reference = robustness_curves(reference_table, task_type, metric)
        reference = reference.set_index(["modality", "kind", "severity"])["value"]
    rows = []
    for (modality, kind), curve in curves.groupby(["modality", "kind"], sort=True):
        s = curve["severity"].to_numpy()
        v = curve["value"].to_numpy()
        row = {
            "modality": modality,
            "kind": kind,
            "metric": metric,
            "clean": float(v[0]),
            "worst": float(v[-1]),
            "relative_robustness": relative_robustness(s, v, higher_is_better=higher),
        }
        if reference is not None:
            ref = _reference_curve(reference, str(modality), str(kind), s)
            row["reference_clean"] = float(ref[0])
            row["reference_relative_robustness"] = relative_robustness(
                s, ref, higher_is_better=higher
            )
            row["effective_robustness"] = effective_robustness(s, v, ref, higher_is_better=higher)
        rows.append(row)
    return pd.DataFrame(rows)


def _reference_curve(
    reference: pd.Series, modality: str, kind: str, severities: np.ndarray
) -> np.ndarray:
    keys = [(modality, kind, int(s)) for s in severities]
    missing = [k[2] for k in keys if k not in reference.index]
    if missing:
        raise RobustnessError(
            f"the reference has no {kind}:{modality} rows at severities {missing}",
            where="reference table",
            fix="evaluate the reference with the same modalities, kinds and severities",
        )
    return np.array([reference[k] for k in keys], dtype=np.float64)
