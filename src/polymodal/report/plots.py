"""Plots of the evaluation harness, each written as a PNG file.

Every ``plot_*`` function draws on its own :class:`matplotlib.figure.Figure` with an explicit
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: ``pyplot`` and its global state (the
current figure, the selected backend) are never touched, so plotting from a library, a thread or
a test leaves the caller's matplotlib as it was. The image is ``size`` inches at ``dpi``, so
``size[0] * dpi`` by ``size[1] * dpi`` pixels, written atomically (a reader never sees half a
file) without a ``Software`` stamp, and the function returns its path.

:func:`png_to_data_uri` embeds a PNG in a self-contained HTML page.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from polymodal.errors import PolymodalError
from polymodal.io import write_bytes_atomic

Size = tuple[float, float]
DPI = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ANNOTATE_MAX_CLASSES = 20  # confusion matrices with more classes get no numbers in the cells
LABEL_MAX_CLASSES = 40  # ... and with more than this, no class names on the axes
LINESTYLES = ("-", "--", ":", "-.")


class PlotError(PolymodalError, ValueError):
    """The data given to a plot cannot be drawn."""


def _figure(size: Size, dpi: int) -> Figure:
    """A new figure on its own Agg canvas (no pyplot)."""
    if not (len(size) == 2 and all(math.isfinite(s) and s > 0 for s in size) and dpi > 0):
        raise PlotError(
            f"invalid figure size {size!r} at dpi {dpi!r}",
            fix="give size=(width, height) in inches > 0 and dpi > 0",
        )
    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    """Render ``figure`` to PNG at its own size and dpi and write it atomically to ``path``."""
    buffer = io.BytesIO()
    canvas = figure.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.print_png(buffer, metadata={"Software": None})  # no rcParams savefig.* involved
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def _require_columns(df: pd.DataFrame, columns: Sequence[str], plot: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise PlotError(
            f"missing columns {missing}; got {list(df.columns)}",
            where=plot,
            fix=f"give a DataFrame with columns {list(columns)}",
        )
    if df.empty:
        raise PlotError("nothing to plot: the table is empty", where=plot)


def plot_confusion_matrix(
    matrix: Any,
    class_names: Sequence[str],
    path: str | Path,
    *,
    normalize: bool = False,
    title: str = "Confusion matrix",
    size: Size = (6.0, 5.0),
    dpi: int = DPI,
) -> Path:
    """Heat map of a confusion matrix.

    Args:
        matrix: ``[C, C]`` counts, rows = true class, columns = predicted class (the convention
            of the ``confusion_matrix`` metric and of scikit-learn).
        class_names: C names, in the order of the rows.
        path: the PNG to write.
        normalize: divide each row by its total (per-class recall; an empty row stays 0).
        title: the figure's title.
        size: (width, height) in inches.
        dpi: pixels per inch.

    Cells carry their value when C <= 20; axes name the classes when C <= 40.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise PlotError(
            f"a confusion matrix must be square [C, C], got shape {list(values.shape)}",
            where="plot_confusion_matrix",
        )
    n = values.shape[0]
    if n == 0:
        raise PlotError("the confusion matrix is empty (0 classes)", where="plot_confusion_matrix")
    if len(class_names) != n:
        raise PlotError(
            f"{len(class_names)} class names for a {n} x {n} matrix",
            where="plot_confusion_matrix",
            fix="give one name per row of the matrix",
        )
    if normalize:
        totals = values.sum(axis=1, keepdims=True)  # [C, 1]
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    figure = _figure(size, dpi)
    ax = figure.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, interpolation="nearest")
    figure.colorbar(image, ax=ax, label="fraction of the true class" if normalize else "count")
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    if n <= LABEL_MAX_CLASSES:
        ax.set_xticks(range(n), [str(c) for c in class_names], rotation=45, ha="right")
        ax.set_yticks(range(n), [str(c) for c in class_names])
    if n <= ANNOTATE_MAX_CLASSES:
        threshold = values.max() / 2.0
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{value:g}"
            color = "white" if value > threshold else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    return _save(figure, path)


def _bin_edges(bins: Mapping[str, Any], n_bins: int) -> np.ndarray:
    if "edges" not in bins:
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.asarray(bins["edges"], dtype=np.float64)
    if edges.shape != (n_bins + 1,):
        raise PlotError(
            f"{len(edges)} bin edges for {n_bins} bins",
            where="plot_reliability_diagram",
            fix="give M + 1 edges for M bins, or no edges (equal-width bins over [0, 1])",
        )
    return edges


def plot_reliability_diagram(
    bins: Mapping[str, Any],
    path: str | Path,
    *,
    title: str = "Reliability diagram",
    size: Size = (5.0, 6.0),
    dpi: int = DPI,
) -> Path:
    """Reliability diagram (Guo et al., *On Calibration of Modern Neural Networks*, ICML 2017):
    accuracy against confidence per bin, with the gap to the diagonal, and bin counts below.

    Args:
        bins: ``{"confidence": [M], "accuracy": [M], "count": [M]}`` and optionally
            ``"edges": [M + 1]`` (else M equal-width bins over [0, 1]) and ``"ece"``, as
            :func:`polymodal.evaluate.metrics.calibration.reliability_diagram` returns it.
            An empty bin (count 0, NaN accuracy) is left blank.
        path: the PNG to write.
        title: the figure's title (the ECE is added when given).
        size: (width, height) in inches.
        dpi: pixels per inch.
    """
    missing = [k for k in ("confidence", "accuracy", "count") if k not in bins]
    if missing:
        raise PlotError(
            f"missing keys {missing}",
            where="plot_reliability_diagram",
            fix="give the dict of reliability_diagram(): confidence, accuracy, count per bin",
        )
    confidence = np.asarray(bins["confidence"], dtype=np.float64)
    accuracy = np.asarray(bins["accuracy"], dtype=np.float64)
    count = np.asarray(bins["count"], dtype=np.float64)
    if not confidence.shape == accuracy.shape == count.shape or confidence.ndim != 1:
        raise PlotError(
            "confidence, accuracy and count must be lists of the same length M",
            where="plot_reliability_diagram",
        )
    edges = _bin_edges(bins, len(count))
    left, width = edges[:-1], np.diff(edges)  # [M], [M]
    filled = (count > 0) & np.isfinite(accuracy) & np.isfinite(confidence)
    figure = _figure(size, dpi)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.bar(left[filled], accuracy[filled], width[filled], align="edge", color="tab:blue",
            edgecolor="black", label="accuracy")  # fmt: skip
    gap = confidence[filled] - accuracy[filled]
    top.bar(left[filled], gap, width[filled], bottom=accuracy[filled], align="edge",
            color="tab:red", alpha=0.3, hatch="//", edgecolor="tab:red", label="gap")  # fmt: skip
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    top.legend(loc="upper left")
    ece = bins.get("ece")
    top.set_title(title if ece is None else f"{title} (ECE = {float(ece):.3f})")
    bottom.bar(left, count, width, align="edge", color="gray", edgecolor="black")
    bottom.set(xlabel="confidence", ylabel="samples")
    return _save(figure, path)


def _style_by(values: Sequence[Any], styles: Sequence[Any]) -> dict[Any, Any]:
    """One style per distinct value, in order of first appearance (cycling)."""
    distinct = list(dict.fromkeys(values))
    return {v: styles[i % len(styles)] for i, v in enumerate(distinct)}


def plot_robustness_curves(
    curves: pd.DataFrame,
    metric: str,
    path: str | Path,
    *,
    title: str = "Robustness",
    size: Size | None = None,
    dpi: int = DPI,
) -> Path:
    """Metric against perturbation severity: one panel per perturbation kind, one line per
    perturbed modality (colour) and, with a ``model`` column, per model (line style).

    Args:
        curves: columns ``modality``, ``kind``, ``severity``, ``value`` and optionally ``model``.
        metric: the metric's name, for the y axis.
        path: the PNG to write.
        title: the figure's title.
        size: (width, height) in inches; default 4 inches wide per kind, 4 high.
        dpi: pixels per inch.
    """
    _require_columns(curves, ("modality", "kind", "severity", "value"), "plot_robustness_curves")
    kinds = list(dict.fromkeys(curves["kind"]))
    colors = _style_by(list(curves["modality"]), [f"C{i}" for i in range(10)])
    has_model = "model" in curves.columns
    styles = _style_by(list(curves["model"]) if has_model else [None], LINESTYLES)
    figure = _figure(size or (4.0 * len(kinds) + 1.0, 4.0), dpi)
    axes = figure.subplots(1, len(kinds), sharey=True, squeeze=False)[0]
    group_by = ["modality", "model"] if has_model else ["modality"]
    for ax, kind in zip(axes, kinds, strict=True):
        part = curves[curves["kind"] == kind]
        for key, line in part.groupby(group_by, sort=False):
            modality, model = (key[0], key[1]) if has_model else (key[0], None)
            line = line.sort_values("severity")
            label = str(modality) if model is None else f"{modality} ({model})"
            ax.plot(line["severity"], line["value"], marker="o", color=colors[modality],
                    linestyle=styles[model], label=label)  # fmt: skip
        ax.set(title=str(kind), xlabel="severity")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric)
    axes[-1].legend(loc="best", fontsize=8)
    figure.suptitle(title)
    return _save(figure, path)


def plot_contribution(
    df: pd.DataFrame,
    path: str | Path,
    *,
    metric: str = "metric",
    title: str = "Modality contribution",
    size: Size = (6.4, 4.0),
    dpi: int = DPI,
) -> Path:
    """Grouped bars per modality: its Shapley value and its leave-one-out drop.

    Args:
        df: columns ``modality``, ``shapley``, ``leave_one_out`` (one row per modality).
        path: the PNG to write.
        metric: the metric the contributions are measured in, for the y axis.
        title: the figure's title.
        size: (width, height) in inches.
        dpi: pixels per inch.
    """
    _require_columns(df, ("modality", "shapley", "leave_one_out"), "plot_contribution")
    positions = np.arange(len(df))  # [K] one group per modality
    width = 0.38
    figure = _figure(size, dpi)
    ax = figure.add_subplot()
    shapley = ax.bar(positions - width / 2, df["shapley"], width, label="Shapley value")
    loo = ax.bar(positions + width / 2, df["leave_one_out"], width, label="leave-one-out")
    ax.bar_label(shapley, fmt="%.3f", fontsize=7)
    ax.bar_label(loo, fmt="%.3f", fontsize=7)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(positions, [str(m) for m in df["modality"]])
    ax.set(ylabel=f"contribution ({metric})", title=title)
    ax.legend()
    return _save(figure, path)


def pareto_front(points: pd.DataFrame | Any) -> list[int]:
    """Positions of the Pareto-optimal points when lower cost and higher score are better.

    A point is on the front when no other point has a cost <= and a score >= with at least one
    strictly better; equal points are all on the front (none dominates the other). Points with
    a NaN cost or score are never on it.

    Args:
        points: a DataFrame with ``cost`` and ``score`` columns, or an array ``[N, 2]`` of
            (cost, score) rows.

    Returns:
        0-based row positions (not DataFrame labels), by increasing cost, then position.
        O(N log N): one sweep over the points sorted by cost.
    """
    if isinstance(points, pd.DataFrame):
        _require_columns(points, ("cost", "score"), "pareto_front")
        values = points[["cost", "score"]].to_numpy(dtype=np.float64)
    else:
        values = np.asarray(points, dtype=np.float64).reshape(-1, 2)  # [N, 2]
    cost, score = values[:, 0], values[:, 1]
    valid = np.flatnonzero(np.isfinite(cost) & np.isfinite(score))
    order = valid[np.lexsort((valid, -score[valid], cost[valid]))]  # cost up, score down
    front: list[int] = []
    best = -np.inf  # best score of strictly cheaper points
    start = 0
    while start < len(order):
        stop = start
        while stop < len(order) and cost[order[stop]] == cost[order[start]]:
            stop += 1
        group = order[start:stop]  # equal cost, score down
        top = score[group[0]]
        if top > best:
            front.extend(int(i) for i in group if score[i] == top)
            best = top
        start = stop
    return front


def plot_efficiency_scatter(
    points: pd.DataFrame,
    cost_label: str,
    score_label: str,
    path: str | Path,
    *,
    log_cost: bool = False,
    title: str = "Cost and score",
    size: Size = (6.4, 4.8),
    dpi: int = DPI,
) -> Path:
    """Score against cost per model, with the Pareto front (lower cost, higher score) drawn
    as a step line through its points.

    Args:
        points: columns ``model``, ``cost``, ``score``; rows with a NaN are not drawn.
        cost_label: x axis label (e.g. ``latency p50 (ms)``).
        score_label: y axis label (e.g. ``accuracy``).
        path: the PNG to write.
        log_cost: logarithmic x axis (costs must be > 0).
        title: the figure's title.
        size: (width, height) in inches.
        dpi: pixels per inch.
    """
    _require_columns(points, ("model", "cost", "score"), "plot_efficiency_scatter")
    cost = points["cost"].to_numpy(dtype=np.float64)
    score = points["score"].to_numpy(dtype=np.float64)
    finite = np.isfinite(cost) & np.isfinite(score)
    if not finite.any():
        raise PlotError("no point has a finite cost and score", where="plot_efficiency_scatter")
    front = pareto_front(points)
    figure = _figure(size, dpi)
    ax: Axes = figure.add_subplot()
    ax.scatter(cost[finite], score[finite], color="tab:gray", label="model", zorder=2)
    ax.step(cost[front], score[front], where="post", color="tab:red", zorder=1)
    ax.scatter(cost[front], score[front], color="tab:red", label="Pareto front", zorder=3)
    for name, x, y in zip(points["model"][finite], cost[finite], score[finite], strict=True):
        ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if log_cost:
        ax.set_xscale("log")
    ax.set(xlabel=cost_label, ylabel=score_label, title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(figure, path)


def png_to_data_uri(path: str | Path) -> str:
    """``data:image/png;base64,...`` of a PNG file, for an ``<img src=...>`` in one HTML file.

    Raises:
        PlotError: the file is missing or not a PNG.
    """
    path = Path(path)
    if not path.is_file():
        raise PlotError("no such file", where=str(path), fix="write the plot first")
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise PlotError("not a PNG file", where=str(path), fix="give a .png written by a plot")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
