"""Lining up two predictions tables sample by sample, for every paired comparison.

A paired test (paired bootstrap, McNemar) compares two models on the *same* samples, row i of one
table against row i of the other. :func:`pair_tables` is the one rule for lining them up, used by
``polymodal compare`` (:mod:`polymodal.evaluate.compare`) and by the leaderboard
(:mod:`polymodal.bench.leaderboard`):

- a sample is its ``id``, and also its ``perturbation`` and ``severity`` where both tables have
  these columns (a robustness table holds each id once per perturbation and severity);
- every key appears once in each table, and both tables hold the same keys;
- a key has the same ``target`` in both tables;
- both tables come back in the same order: sorted by key (so the order of the files does not
  matter), index ``0 .. n-1``.

Anything else raises :class:`PairingError`, saying what differs, with an example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from polymodal.errors import PolymodalError

KEY_COLUMNS = ("id", "perturbation", "severity")
"""Columns that name a sample, where present (``id`` always)."""

FIX = "evaluate both on the same dataset, split and seed"


class PairingError(PolymodalError, ValueError):
    """Two predictions tables do not hold the same samples."""


def clean_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The unperturbed rows (``perturbation == "none"``; every row without that column)."""
    if "perturbation" in table.columns:
        table = table[table["perturbation"] == "none"]
    return table.reset_index(drop=True)


def _keys(table: pd.DataFrame, columns: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(table[columns].astype(object))


def _examples(keys: Sequence[Any], limit: int = 3) -> str:
    shown = [repr(k[0] if len(k) == 1 else k) for k in list(keys)[:limit]]
    return ", ".join(shown) + (", ..." if len(keys) > limit else "")


def _check_unique(keys: pd.MultiIndex, name: str, where: str | None) -> None:
    repeated = keys[keys.duplicated()]
    if len(repeated):
        raise PairingError(
            f"table {name} holds {len(repeated)} sample(s) more than once: {_examples(repeated)}",
            where=where,
            fix=FIX,
        )


def _sort_order(keys: pd.MultiIndex) -> np.ndarray:
    """Positions that sort ``keys``; by their text when their types cannot be compared."""
    try:
        return np.asarray(keys.argsort(), dtype=np.int64)
    except TypeError:
        return np.argsort(np.array([repr(k) for k in keys], dtype=object), kind="stable")


def _differ(x: pd.Series, y: pd.Series) -> np.ndarray:
    """Whether each pair of targets differs ``[n]`` (NaN equals NaN; lists element by element)."""
    if x.dtype != object and y.dtype != object:
        u, v = x.to_numpy(), y.to_numpy()
        same = u == v
        if np.issubdtype(u.dtype, np.floating) and np.issubdtype(v.dtype, np.floating):
            same |= np.isnan(u) & np.isnan(v)
        return ~same
    return np.array(
        [not np.array_equal(np.asarray(p), np.asarray(q)) for p, q in zip(x, y, strict=True)]
    )


def pair_tables(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    names: tuple[str, str] = ("A", "B"),
    where: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``a`` and ``b`` lined up row by row on the same samples (the rule of the module).

    Args:
        a, b: predictions tables (an ``id`` column, and ``target`` to check).
        names: how errors call the two tables.
        where: where errors say the problem is (e.g. the two run directories).

    Returns:
        ``(a, b)`` sorted by sample key, index ``0 .. n-1``; row i of both is the same sample.

    Raises:
        PairingError: a sample twice in one table, samples in one table only, or a sample
            whose target differs.
    """
    columns = [c for c in KEY_COLUMNS if c in a.columns and c in b.columns]
    if "id" not in columns:
        raise PairingError("a predictions table has no 'id' column", where=where, fix=FIX)
    keys_a, keys_b = _keys(a, columns), _keys(b, columns)
    _check_unique(keys_a, names[0], where)
    _check_unique(keys_b, names[1], where)
    only_a, only_b = keys_a.difference(keys_b), keys_b.difference(keys_a)
    if len(only_a) or len(only_b):
        raise PairingError(
            "the two tables do not hold the same samples: "
            f"{len(only_a)} only in {names[0]} ({_examples(only_a) or 'none'}), "
            f"{len(only_b)} only in {names[1]} ({_examples(only_b) or 'none'})",
            where=where,
            fix=FIX,
        )
    order = _sort_order(keys_a)
    paired_a = a.iloc[order].reset_index(drop=True)
    paired_b = b.iloc[keys_b.get_indexer(keys_a[order])].reset_index(drop=True)
    if "target" in a.columns and "target" in b.columns:
        differ = _differ(paired_a["target"], paired_b["target"])
        if differ.any():
            keys = _keys(paired_a, columns)[differ]
            raise PairingError(
                f"{int(differ.sum())} sample(s) have another target in {names[0]} than in "
                f"{names[1]}: {_examples(keys)}",
                where=where,
                fix=FIX,
            )
    return paired_a, paired_b
