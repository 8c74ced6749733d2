"""The leaderboard of a benchmark: per dataset, models ranked by the primary metric.

For each dataset (and task type) and each model:

- **mean, std and interval over seeds** of the primary metric
  (:func:`~polymodal.evaluate.stats.aggregate_seeds`: Student-t interval of the mean; with a single
  seed, the run's own bootstrap interval from its ``metrics.json``);
- **the comparison with the best model** (rank 1), paired on the same test samples: for every seed
  both models ran, the two predictions tables of that seed are lined up sample by sample
  (:func:`~polymodal.evaluate.pairing.pair_tables`; a seed fixes the data, so the same seed means
  the same test samples), and the pairs of all common seeds are pooled. On the pooled pairs
  (:func:`~polymodal.evaluate.compare.paired_difference`): the difference of the primary metric
  with a paired bootstrap interval (Koehn 2004), and a p-value from McNemar's test (accuracy of
  a multiclass task) or from the paired bootstrap (any other metric); the p-values of the models
  compared with the best are Holm-corrected (Holm 1979) over those models;
- **efficiency columns** (parameters, FLOPs per sample, latency p50 at batch 1, training time;
  means over seeds) when the cells measured efficiency, and **mean relative robustness** (over
  every modality x perturbation curve and seed) when they measured robustness.

:func:`build_leaderboard` reads a benchmark directory; :func:`compute_leaderboard` works on
:class:`CellResult` objects, from any source.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.errors import PolymodalError
from polymodal.evaluate.compare import PairedDifference, TestName, paired_difference
from polymodal.evaluate.pairing import PairingError, clean_rows, pair_tables
from polymodal.report.labels import EFFICIENCY
from polymodal.rundir.layout import PREDICTIONS_FILE

EFFICIENCY_COLUMNS: dict[str, str] = {
    "params": "params_total",
    "flops_per_sample": "flops_per_sample",
    "latency_ms_p50": "latency_ms_p50_bs1",
    "train_seconds": "training_seconds",
}
"""Leaderboard column -> key of ``metrics.json``'s ``efficiency`` (its header is the measure's
``short`` label, :data:`polymodal.report.labels.EFFICIENCY`)."""


@dataclass
class CellResult:
    """One finished cell, as the leaderboard needs it.

    Attributes:
        dataset: the dataset's label.
        model: the model (variant) name.
        seed: the seed.
        payload: the cell's ``metrics.json``.
        predictions: a function returning the predictions table (read when needed), or None.
    """

    dataset: str
    model: str
    seed: int
    payload: dict[str, Any]
    predictions: Callable[[], pd.DataFrame] | None = None
    _table: pd.DataFrame | None = field(default=None, init=False, repr=False)

    def clean_table(self) -> pd.DataFrame | None:
        """The clean rows (``perturbation == "none"``) of the predictions table, or None."""
        if self._table is None and self.predictions is not None:
            self._table = clean_rows(self.predictions())
        return self._table


@dataclass(frozen=True)
class LeaderboardRow:
    """One model on one dataset.

    Attributes:
        dataset, task: the group (dataset label and task type).
        metric, higher_is_better: the primary metric and its direction.
        rank: 1 = best mean.
        model: the model (variant) name.
        n_seeds: seeds with a result.
        mean, std: over seeds (std NaN for one seed).
        ci_low, ci_high, ci_kind: interval of the mean ("t over seeds") or, for one seed, the
            run's bootstrap interval ("bootstrap"); NaN and "" when there is none.
        delta, delta_ci_low, delta_ci_high: paired difference ``model - baseline`` of the metric
            on the pooled predictions of common seeds, with its bootstrap interval (None for the
            baseline and when not paired).
        p_value, p_holm, significant, test: the test against the best, Holm-adjusted p-value,
            whether it rejects at ``alpha``, and which test ("mcnemar" or "bootstrap").
        paired_samples: number of pooled sample pairs.
        baseline: the model Δ and p compare with (the best, or the leaderboard's reference).
        params, flops_per_sample, latency_ms_p50, train_seconds: efficiency means (None when
            not measured).
        relative_robustness: mean relative robustness (None when not measured).
        selection: the rule that chose the evaluated weights in every seed's run (``best``:
            best validation epoch; ``last``: last epoch; ``mixed`` when seeds differ; None when
            the runs do not record it).
    """

    dataset: str
    task: str
    metric: str
    higher_is_better: bool
    rank: int
    model: str
    n_seeds: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    ci_kind: str
    delta: float | None = None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    significant: bool | None = None
    test: str | None = None
    paired_samples: int | None = None
    baseline: str | None = None
    params: float | None = None
    flops_per_sample: float | None = None
    latency_ms_p50: float | None = None
    train_seconds: float | None = None
    relative_robustness: float | None = None
    selection: str | None = None


@dataclass
class Leaderboard:
    """Rows of every dataset group, with the settings of the tests and notes on what was left out.

    Attributes:
        rows: grouped by (dataset, task) in benchmark order, ranked within each group.
        alpha: family-wise level of the Holm-corrected tests.
        level: confidence level of the intervals.
        resamples: paired bootstrap resamples.
        notes: things a reader should know (unpaired models, missing predictions, ...).
        reference: the model every other is compared with (None: the best of each group).
    """

    rows: list[LeaderboardRow]
    alpha: float = 0.05
    level: float = 0.95
    resamples: int = 1000
    reference: str | None = None
    notes: list[str] = field(default_factory=list)

    def groups(self) -> dict[tuple[str, str], list[LeaderboardRow]]:
        """Rows per (dataset, task), in order."""
        out: dict[tuple[str, str], list[LeaderboardRow]] = {}
        for row in self.rows:
            out.setdefault((row.dataset, row.task), []).append(row)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per model and dataset, every field a column."""
        columns = list(LeaderboardRow.__dataclass_fields__)
        return pd.DataFrame([asdict(r) for r in self.rows], columns=columns)

    def to_csv(self) -> str:
        """The frame as CSV (empty cells for missing values)."""
        return self.to_frame().to_csv(index=False)

    def to_json(self) -> str:
        """``{"alpha", "level", "resamples", "notes", "rows": [...]}``; NaN written as null."""
        payload = {
            "alpha": self.alpha,
            "level": self.level,
            "resamples": self.resamples,
            "notes": self.notes,
            "rows": [{k: _json_number(v) for k, v in asdict(r).items()} for r in self.rows],
        }
        return json.dumps(payload, indent=2, allow_nan=False) + "\n"

    def to_markdown(self, heading_level: int = 3) -> str:
        """One table per dataset group, with a legend; see :func:`markdown_table`."""
        if not self.rows:
            return "No finished cells yet.\n"
        parts = []
        for rows in self.groups().values():
            first = rows[0]
            direction = "higher is better" if first.higher_is_better else "lower is better"
            parts.append(
                f"{'#' * heading_level} {first.dataset} ({first.task}): {first.metric}, {direction}"
            )
            parts.append("")
            parts.append(markdown_table(rows, self.level))
            parts.append("")
        parts.append(self.legend())
        if self.notes:
            parts.append("")
            parts += [f"- {note}" for note in self.notes]
        return "\n".join(parts) + "\n"

    def legend(self) -> str:
        """What the columns mean."""
        against = f"`{self.reference}`" if self.reference else "the best model"
        return (
            f"Mean ± standard deviation over seeds; {self.level:.0%} CI: Student t over seeds "
            f"(for one seed, the run's bootstrap interval). Δ: paired difference to {against} "
            "on the test predictions of common seeds, pooled, with a paired bootstrap "
            f"interval ({self.resamples} resamples). p: McNemar's test (accuracy) or the paired "
            f"bootstrap of each model against {against} alone; p (Holm): the same p, "
            f"Holm-corrected over the models compared with {against}; * significant at "
            f"α = {self.alpha:g} after the correction."
        ) + (
            " weights: which epoch's weights were evaluated (best: the best validation epoch, "
            "val split carved from the training data; last: the last epoch)."
            if any(r.selection is not None for r in self.rows)
            else ""
        )


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _big(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def _p_number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _p_text(row: LeaderboardRow) -> str:
    """The Holm-adjusted p, starred when significant."""
    if row.p_holm is None:
        return "-"
    return _p_number(row.p_holm) + (" *" if row.significant else "")


def table_cells(rows: Sequence[LeaderboardRow], level: float) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of one dataset group's table (efficiency and robustness
    columns only when some model measured them)."""
    metric = rows[0].metric
    baseline = next((r.baseline for r in rows if r.baseline), None)
    against = "best" if baseline is None or baseline == rows[0].model else baseline
    header = ["rank", "model", "seeds", metric, f"{level:.0%} CI", f"Δ vs {against}"]
    header += ["p", "p (Holm)"]
    extra = [c for c in EFFICIENCY_COLUMNS if any(getattr(r, c) is not None for r in rows)]
    header += [EFFICIENCY[EFFICIENCY_COLUMNS[c]].short for c in extra]
    robust = any(r.relative_robustness is not None for r in rows)
    if robust:
        header.append("rel. robustness")
    selection = any(r.selection is not None for r in rows)
    if selection:
        header.append("weights")
    body = []
    for r in rows:
        mean = _num(r.mean) + ("" if math.isnan(r.std) else f" ± {_num(r.std)}")
        ci = "-" if math.isnan(r.ci_low) else f"[{_num(r.ci_low)}, {_num(r.ci_high)}]"
        if r.model == (baseline or rows[0].model):
            delta = "best" if against == "best" else "reference"
        elif r.delta is None:
            delta = "-"
        else:
            delta = f"{r.delta:+.4f} [{r.delta_ci_low:+.4f}, {r.delta_ci_high:+.4f}]"
        p_raw = _p_number(r.p_value)
        cells = [str(r.rank), r.model, str(r.n_seeds), mean, ci, delta, p_raw, _p_text(r)]
        for c in extra:
            value = getattr(r, c)
            cells.append(
                _num(value, 1) if c in ("latency_ms_p50", "train_seconds") else _big(value)
            )
        if robust:
            cells.append(_num(r.relative_robustness, 3))
        if selection:
            cells.append(r.selection or "-")
        body.append(cells)
    return header, body


def markdown_table(rows: Sequence[LeaderboardRow], level: float) -> str:
    """The Markdown table of one dataset group (see :func:`table_cells`)."""
    header, body = table_cells(rows, level)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Computing


def _mean_of(values: list[Any]) -> float | None:
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _relative_robustness(payloads: list[dict[str, Any]]) -> float | None:
    values = []
    for payload in payloads:
        for row in payload.get("robustness", {}).get("summary", []):
            values.append(row.get("relative_robustness"))
    return _mean_of(values)


def _selection(payloads: list[dict[str, Any]]) -> str | None:
    """The weight-selection rule shared by the runs (``mixed`` if they differ, None if none
    records one)."""
    rules = {(p.get("weights") or {}).get("selection") for p in payloads} - {None}
    if not rules:
        return None
    return rules.pop() if len(rules) == 1 else "mixed"


def _efficiency(payloads: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for column, key in EFFICIENCY_COLUMNS.items():
        out[column] = _mean_of([p.get("efficiency", {}).get(key) for p in payloads])
    return out


def _primary(cells: list[CellResult]) -> tuple[str, bool]:
    names = Counter(str(c.payload.get("primary_metric")) for c in cells)
    metric = names.most_common(1)[0][0]
    higher = next(
        bool(c.payload.get("higher_is_better", True))
        for c in cells
        if c.payload.get("primary_metric") == metric
    )
    return metric, higher


@dataclass
class _ModelStats:
    model: str
    cells: list[CellResult]
    values: dict[int, float]
    mean: float
    std: float
    ci: tuple[float, float]
    ci_kind: str


def _model_stats(model: str, cells: list[CellResult], metric: str, level: float) -> _ModelStats:
    from polymodal.evaluate.stats import aggregate_seeds

    values = {}
    for cell in cells:
        value = cell.payload.get("metrics", {}).get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            values[cell.seed] = float(value)
    aggregate = aggregate_seeds(values, level=level)
    kept = [c for c in cells if c.seed in values]
    ci, kind = aggregate.ci, "t over seeds"
    if aggregate.n == 1:
        interval = kept[0].payload.get("intervals", {}).get(metric)
        if interval:
            ci, kind = (float(interval["low"]), float(interval["high"])), "bootstrap"
        else:
            ci, kind = (math.nan, math.nan), ""
    return _ModelStats(model, kept, values, aggregate.mean, aggregate.std, ci, kind)


def pooled_pairs(
    a: Sequence[CellResult], b: Sequence[CellResult]
) -> tuple[pd.DataFrame, pd.DataFrame] | str:
    """The predictions of two models paired seed by seed and sample by sample
    (:func:`~polymodal.evaluate.pairing.pair_tables`), pooled.

    Returns:
        ``(table_a, table_b)`` of equal length, row i of both the same sample of the same seed,
        or a string saying why the two cannot be paired.
    """
    by_seed_b = {c.seed: c for c in b}
    parts_a, parts_b = [], []
    for cell_a in sorted(a, key=lambda c: c.seed):
        cell_b = by_seed_b.get(cell_a.seed)
        if cell_b is None:
            continue
        ta, tb = cell_a.clean_table(), cell_b.clean_table()
        if ta is None or tb is None:
            return f"seed {cell_a.seed}: predictions table missing"
        try:
            ta, tb = pair_tables(ta, tb, names=(cell_a.model, cell_b.model))
        except PairingError as err:
            return f"seed {cell_a.seed}: {err.what}"
        parts_a.append(ta)
        parts_b.append(tb)
    if not parts_a:
        return "no seed in common"
    return pd.concat(parts_a, ignore_index=True), pd.concat(parts_b, ignore_index=True)


def compute_leaderboard(
    cells: Sequence[CellResult],
    *,
    alpha: float = 0.05,
    test: TestName = "auto",
    resamples: int = 1000,
    level: float = 0.95,
    reference: str | None = None,
) -> Leaderboard:
    """Rank the models of every dataset group and compare each with the best, or with the
    ``reference`` model where the group has it (e.g. the best unimodal baseline; see the
    module)."""
    board = Leaderboard([], alpha=alpha, level=level, resamples=resamples, reference=reference)
    groups: dict[tuple[str, str], list[CellResult]] = {}
    for cell in cells:
        groups.setdefault((cell.dataset, str(cell.payload.get("task"))), []).append(cell)
    for (dataset, task), group in groups.items():
        board.rows += _group_rows(board, dataset, task, group, test)
    return board


def _ranked_stats(
    board: Leaderboard, dataset: str, group: list[CellResult], metric: str, higher: bool
) -> list[_ModelStats]:
    """Seed statistics of every model of a group, best first (ties keep benchmark order)."""
    by_model: dict[str, list[CellResult]] = {}
    for cell in group:
        by_model.setdefault(cell.model, []).append(cell)
    stats = []
    for model, model_cells in by_model.items():
        try:
            stats.append(_model_stats(model, model_cells, metric, board.level))
        except PolymodalError:
            board.notes.append(f"{dataset} / {model}: no finite {metric}, left out")
    sign = -1.0 if higher else 1.0
    return sorted(stats, key=lambda s: sign * s.mean)  # stable


def _baseline(board: Leaderboard, dataset: str, stats: list[_ModelStats]) -> _ModelStats:
    """The model the others are compared with: the reference where the group has it, or the
    best."""
    if board.reference is None:
        return stats[0]
    found = next((s for s in stats if s.model == board.reference), None)
    if found is None:
        board.notes.append(f"{dataset}: no model {board.reference!r}; compared with the best")
    return found or stats[0]


def _comparisons(
    board: Leaderboard,
    group: tuple[str, str, str],
    stats: list[_ModelStats],
    best: _ModelStats,
    test: TestName,
) -> dict[str, PairedDifference]:
    """Every model of a group against ``best`` on pooled pairs (a note where not paired)."""
    dataset, task, metric = group
    out: dict[str, PairedDifference] = {}
    for other in stats:
        if other is best:
            continue
        pairs = pooled_pairs(other.cells, best.cells)
        if isinstance(pairs, str):
            board.notes.append(f"{dataset} / {other.model} vs {best.model}: not paired, {pairs}")
            continue
        out[other.model] = paired_difference(
            pairs, task, metric, test=test, resamples=board.resamples, level=board.level
        )
    return out


def _group_rows(
    board: Leaderboard, dataset: str, task: str, group: list[CellResult], test: TestName
) -> list[LeaderboardRow]:
    """The ranked rows of one (dataset, task) group."""
    from polymodal.evaluate.stats import holm

    metric, higher = _primary(group)
    stats = _ranked_stats(board, dataset, group, metric, higher)
    if not stats:
        return []
    best = _baseline(board, dataset, stats)
    comparisons = _comparisons(board, (dataset, task, metric), stats, best, test)
    p_values = {k: c.p_value for k, c in comparisons.items()}
    adjusted = holm(p_values, board.alpha) if comparisons else None
    rows = []
    for rank, s in enumerate(stats, start=1):
        payloads = [c.payload for c in s.cells]
        row: dict[str, Any] = {
            "dataset": dataset,
            "task": task,
            "metric": metric,
            "higher_is_better": higher,
            "rank": rank,
            "model": s.model,
            "n_seeds": len(s.values),
            "mean": s.mean,
            "std": s.std,
            "ci_low": s.ci[0],
            "ci_high": s.ci[1],
            "ci_kind": s.ci_kind,
            **_efficiency(payloads),
            "relative_robustness": _relative_robustness(payloads),
            "selection": _selection(payloads),
            "baseline": best.model,
        }
        if (comparison := comparisons.get(s.model)) is not None and adjusted is not None:
            row.update(
                delta=comparison.delta,
                delta_ci_low=comparison.ci_low,
                delta_ci_high=comparison.ci_high,
                p_value=comparison.p_value,
                p_holm=adjusted.adjusted[s.model],
                significant=adjusted.reject[s.model],
                test=comparison.test,
                paired_samples=comparison.samples,
            )
        rows.append(LeaderboardRow(**row))
    return rows


# ------------------------------------------------------------------------------------------
# From a benchmark directory


def load_cell_results(bench_dir: str | Path) -> list[CellResult]:
    """The finished, planned cells of a benchmark directory, predictions read lazily."""
    from polymodal.bench.store import open_store

    bench_dir = Path(bench_dir)
    with open_store(bench_dir) as store:
        records = store.cells(status="done")
    out = []
    for record in records:
        path = bench_dir / record.run_path / PREDICTIONS_FILE
        reader = (lambda p=path: pd.read_parquet(p)) if path.is_file() else None
        out.append(
            CellResult(record.dataset, record.model, record.seed, record.metrics or {}, reader)
        )
    return out


def leaderboard_options(bench_dir: str | Path) -> dict[str, Any]:
    """The spec's ``leaderboard`` options and evaluation level stored with a benchmark."""
    from polymodal.bench.store import open_store

    with open_store(bench_dir) as store:
        text = store.get_meta("spec")
    spec = json.loads(text) if text else {}
    options = dict(spec.get("leaderboard") or {})
    options["level"] = (spec.get("eval") or {}).get("level", 0.95)
    return options


def build_leaderboard(bench_dir: str | Path, **overrides: Any) -> Leaderboard:
    """The leaderboard of a benchmark directory (options from its spec, or ``overrides``)."""
    options = {**leaderboard_options(bench_dir), **overrides}
    return compute_leaderboard(
        load_cell_results(bench_dir),
        alpha=float(options.get("alpha", 0.05)),
        test=options.get("test", "auto"),
        resamples=int(options.get("resamples", 1000)),
        level=float(options.get("level", 0.95)),
        reference=options.get("reference"),
    )
