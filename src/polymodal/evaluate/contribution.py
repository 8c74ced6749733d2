"""Modality contribution: leave-one-modality-out and exact Shapley values over modalities.

The players are the modalities ``N`` of a model (at most :data:`MAX_MODALITIES`). For every
subset ``S`` of ``N``, :func:`subset_tables` evaluates the model with the other modalities removed
by the ``drop`` perturbation at severity 5 (every sample: ``present`` False, see
:mod:`polymodal.evaluate.perturb`), labelled ``perturbation = "keep:<a+b>"`` (modalities in the
model's order, ``"keep:"`` for the empty set) and ``severity = 0``. The value of a coalition is a
metric on its rows, ``v(S)``, and then

- leave-one-out: ``LOO_i = v(N) - v(N \\ {i})``;
- Shapley value (Shapley 1953; exact, over all ``2^(n-1)`` coalitions without ``i``)::

      phi_i = sum_{S subset N \\ {i}} |S|! (n - |S| - 1)! / n! * (v(S u {i}) - v(S))

  which satisfies efficiency: ``sum_i phi_i = v(N) - v(empty set)``.

Values are in the metric's units and direction: with a lower-is-better metric (MAE), a modality
that helps has a *negative* contribution.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch.utils.data import Dataset

from polymodal.data.loading import make_dataloader
from polymodal.data.schema import Batch, ModalitySpec, Sample, TaskSpec, TaskType
from polymodal.errors import PolymodalError
from polymodal.evaluate.perturb import perturb_batch
from polymodal.evaluate.predict import predict_table
from polymodal.evaluate.robustness import check_modalities, condition_value, used_modalities

MAX_MODALITIES = 6
"""Largest number of players: 2^6 = 64 evaluations of the dataset."""

KEEP = "keep:"
"""Prefix of the ``perturbation`` label of a subset evaluation."""

CONTRIBUTION_COLUMNS = ["modality", "shapley", "leave_one_out"]


class ContributionError(PolymodalError, ValueError):
    """Modality contributions cannot be computed (too many modalities, missing coalitions)."""


def subset_label(subset: frozenset[str] | set[str], order: Sequence[str]) -> str:
    """``"keep:a+b"``: the members of ``subset`` in the order of ``order``."""
    return KEEP + "+".join(m for m in order if m in subset)


def parse_subset(label: str) -> frozenset[str] | None:
    """The coalition of a ``"keep:a+b"`` label (``"keep:"`` -> empty); None for other labels."""
    label = str(label)
    if not label.startswith(KEEP):
        return None
    rest = label[len(KEEP) :]
    return frozenset(rest.split("+")) if rest else frozenset()


def all_subsets(modalities: Sequence[str]) -> list[frozenset[str]]:
    """Every subset of ``modalities``, by size then in the order of ``modalities``."""
    return [
        frozenset(c)
        for r in range(len(modalities) + 1)
        for c in itertools.combinations(modalities, r)
    ]


def _check_players(modalities: Sequence[str]) -> list[str]:
    players = list(modalities)
    if len(set(players)) != len(players):
        raise ContributionError(f"modalities repeat: {players}")
    if len(players) > MAX_MODALITIES:
        raise ContributionError(
            f"{len(players)} modalities need 2^{len(players)} = {2 ** len(players)} evaluations; "
            f"exact Shapley values are limited to {MAX_MODALITIES} modalities",
            fix="pass modalities=[...] with at most 6 of them (the others are always kept), or "
            "group modalities",
        )
    bad = [m for m in players if "+" in m or not m]
    if bad:
        raise ContributionError(
            f"modality names {bad} cannot be written in a 'keep:a+b' label",
            fix="rename the modalities without '+'",
        )
    return players


def _keep_only(
    batch: Batch,
    keep: frozenset[str],
    players: Sequence[str],
    specs: Mapping[str, ModalitySpec],
    seed: int,
) -> Batch:
    for modality in players:
        if modality not in keep:
            batch = perturb_batch(batch, modality, "drop", 5, specs, seed)
    return batch


def subset_tables(
    model: torch.nn.Module,
    dataset: Dataset[Sample],
    specs: Mapping[str, ModalitySpec],
    task: TaskSpec,
    *,
    modalities: Sequence[str] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Predictions of ``model`` with only each subset of ``modalities`` kept.

    Args:
        model: a model with ``forward(Batch)`` and ``predict`` (a ``MultimodalModel``).
        dataset: the samples.
        specs: modality specs to collate.
        task: the dataset's task.
        modalities: the players (None: the model's modalities); modalities of the model that are
            not players are always kept.
        batch_size: evaluation batch size.
        seed: seed of the ``drop`` perturbation (at severity 5 it removes every sample, so the
            result does not depend on it).
        device: where the model runs.

    Returns:
        The concatenated predictions tables, one per subset (``2^n`` of them), with
        ``perturbation = "keep:<a+b>"`` and ``severity = 0``.

    Raises:
        ContributionError: more than :data:`MAX_MODALITIES` players.
    """
    players = _check_players(
        check_modalities(used_modalities(model, specs) if modalities is None else modalities, specs)
    )
    loader = make_dataloader(dataset, dict(specs), batch_size=batch_size)
    tables = []
    for keep in all_subsets(players):
        batches = (_keep_only(batch, keep, players, specs, seed) for batch in loader)
        label = subset_label(keep, players)
        tables.append(predict_table(model, batches, task, perturbation=label, device=device))
    return pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Values of coalitions


def _require(values: Mapping[frozenset[str], float], players: Sequence[str]) -> None:
    missing = [s for s in all_subsets(players) if s not in values]
    if missing:
        shown = ", ".join(subset_label(s, players) for s in missing[:5])
        raise ContributionError(
            f"{len(missing)} of the {2 ** len(players)} coalitions of {players} have no value "
            f"({shown}{' ...' if len(missing) > 5 else ''})",
            fix="give v(S) for every subset S of the modalities (subset_tables computes them all)",
        )


def shapley_values(
    values: Mapping[frozenset[str], float], modalities: Sequence[str]
) -> dict[str, float]:
    """Exact Shapley value of each modality.

    ``phi_i = sum_{S subset N \\ {i}} |S|! (n - |S| - 1)! / n! * (v(S u {i}) - v(S))``.

    Args:
        values: ``v(S)`` for every subset ``S`` of ``modalities`` (frozensets; the empty set too).
        modalities: the players ``N``.

    Returns:
        ``{modality: phi}`` in the order of ``modalities``.
    """
    players = list(modalities)
    if len(set(players)) != len(players):
        raise ContributionError(f"modalities repeat: {players}")
    _require(values, players)
    n = len(players)
    out: dict[str, float] = {}
    for player in players:
        others = [m for m in players if m != player]
        total = 0.0
        for subset in all_subsets(others):
            k = len(subset)
            weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            total += weight * (float(values[subset | {player}]) - float(values[subset]))
        out[player] = total
    return out


def leave_one_out(
    values: Mapping[frozenset[str], float], modalities: Sequence[str]
) -> dict[str, float]:
    """``v(N) - v(N \\ {i})`` for each modality ``i`` (needs those ``n + 1`` coalitions only)."""
    players = list(modalities)
    full = frozenset(players)
    needed = [full, *(full - {m} for m in players)]
    missing = [s for s in needed if s not in values]
    if missing:
        shown = ", ".join(subset_label(s, players) for s in missing)
        raise ContributionError(
            f"leave-one-out needs the values of {shown}",
            fix="give v(N) and v(N without i) for every modality i",
        )
    return {m: float(values[full]) - float(values[full - {m}]) for m in players}


def subset_values(
    table: pd.DataFrame, task_type: TaskType, metric: str
) -> tuple[dict[frozenset[str], float], list[str]]:
    """``v(S)`` = ``metric`` on the rows of each ``keep:`` condition, and the players (in the
    order of the label of the largest subset)."""
    if "perturbation" not in table.columns:
        raise ContributionError(
            "the table has no 'perturbation' column",
            where="subset table",
            fix="give the table of subset_tables",
        )
    values: dict[frozenset[str], float] = {}
    players: list[str] = []
    for label, rows in table.groupby("perturbation", sort=True):
        subset = parse_subset(str(label))
        if subset is None:
            continue
        values[subset] = condition_value(rows, task_type, metric)
        if len(subset) >= len(players):
            players = str(label)[len(KEEP) :].split("+") if subset else []
    if not values:
        raise ContributionError(
            "the table has no 'keep:' rows",
            where="subset table",
            fix="compute it with subset_tables",
        )
    return values, players


def modality_contribution(table: pd.DataFrame, task_type: TaskType, metric: str) -> pd.DataFrame:
    """Shapley and leave-one-out contribution of each modality, from a subset table.

    Returns:
        Columns ``modality, shapley, leave_one_out``, one row per modality in the model's order.
    """
    values, players = subset_values(table, task_type, metric)
    shapley = shapley_values(values, players)
    loo = leave_one_out(values, players)
    return pd.DataFrame([(m, shapley[m], loo[m]) for m in players], columns=CONTRIBUTION_COLUMNS)
