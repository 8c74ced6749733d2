"""Tests of polymodal.report.plots: valid, sized, non-blank PNGs and the Pareto front."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from polymodal.report.plots import (
    PlotError,
    pareto_front,
    plot_confusion_matrix,
    plot_contribution,
    plot_efficiency_scatter,
    plot_reliability_diagram,
    plot_robustness_curves,
    png_to_data_uri,
)

SIZE = (3.0, 2.5)
DPI = 40  # 120 x 100 pixels: small and fast


def _pixels(path: Path) -> np.ndarray:
    """The image's RGB pixels ``[H, W, 3]``, after checking it is a PNG of the configured size."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (int(SIZE[0] * DPI), int(SIZE[1] * DPI))
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.var() > 0, "blank image"
    return pixels


def _brute_force_front(points: np.ndarray) -> set[int]:
    """Points no other point dominates (cost <=, score >=, one strictly), by definition."""
    front = set()
    for i, (ci, si) in enumerate(points):
        if not (np.isfinite(ci) and np.isfinite(si)):
            continue
        dominated = any(
            cj <= ci and sj >= si and (cj < ci or sj > si)
            for j, (cj, sj) in enumerate(points)
            if j != i and np.isfinite(cj) and np.isfinite(sj)
        )
        if not dominated:
            front.add(i)
    return front


def test_confusion_matrix_is_a_png_that_depends_on_the_matrix(tmp_path: Path) -> None:
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    names = ["cat", "dog", "bird"]
    first = plot_confusion_matrix(matrix, names, tmp_path / "a.png", size=SIZE, dpi=DPI)
    assert first == tmp_path / "a.png"
    other = matrix.copy()
    other[0, 0], other[2, 0] = 0, 5
    second = plot_confusion_matrix(other, names, tmp_path / "b.png", size=SIZE, dpi=DPI)
    assert not np.array_equal(_pixels(first), _pixels(second))
    again = plot_confusion_matrix(matrix, names, tmp_path / "c.png", size=SIZE, dpi=DPI)
    assert first.read_bytes() == again.read_bytes()  # deterministic
    normalized = plot_confusion_matrix(
        matrix, names, tmp_path / "n.png", normalize=True, size=SIZE, dpi=DPI
    )
    _pixels(normalized)


def test_confusion_matrix_rejects_mismatched_names(tmp_path: Path) -> None:
    with pytest.raises(PlotError, match="2 class names for a 3 x 3 matrix"):
        plot_confusion_matrix(np.eye(3), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(PlotError, match="square"):
        plot_confusion_matrix(np.ones((2, 3)), ["a", "b"], tmp_path / "x.png")


def test_reliability_diagram_with_empty_bins(tmp_path: Path) -> None:
    bins = {
        "edges": [0.0, 0.25, 0.5, 0.75, 1.0],
        "confidence": [float("nan"), 0.4, 0.6, 0.9],
        "accuracy": [float("nan"), 0.3, 0.65, 0.8],
        "count": [0, 10, 25, 40],
        "ece": 0.07,
    }
    path = plot_reliability_diagram(bins, tmp_path / "rel.png", size=SIZE, dpi=DPI)
    _pixels(path)
    no_edges = {k: v for k, v in bins.items() if k not in ("edges", "ece")}
    _pixels(plot_reliability_diagram(no_edges, tmp_path / "rel2.png", size=SIZE, dpi=DPI))
    with pytest.raises(PlotError, match="missing keys"):
        plot_reliability_diagram({"accuracy": [1.0]}, tmp_path / "bad.png")


def test_robustness_curves_with_and_without_models(tmp_path: Path) -> None:
    rows = [
        {"modality": m, "kind": k, "severity": s, "value": 0.9 - 0.1 * s * (i + 1)}
        for i, m in enumerate(["image", "audio"])
        for k in ["drop", "noise"]
        for s in [0, 1, 2, 3]
    ]
    curves = pd.DataFrame(rows)
    _pixels(plot_robustness_curves(curves, "accuracy", tmp_path / "r.png", size=SIZE, dpi=DPI))
    two_models = pd.concat(
        [curves.assign(model="concat"), curves.assign(model="tfn", value=curves["value"] - 0.05)]
    )
    path = plot_robustness_curves(two_models, "accuracy", tmp_path / "r2.png", size=SIZE, dpi=DPI)
    _pixels(path)
    with pytest.raises(PlotError, match="missing columns"):
        plot_robustness_curves(curves.drop(columns="kind"), "accuracy", tmp_path / "bad.png")


def test_contribution_bars(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"modality": ["image", "text", "audio"], "shapley": [0.2, 0.15, -0.01],
         "leave_one_out": [0.25, 0.1, 0.0]}
    )  # fmt: skip
    _pixels(plot_contribution(df, tmp_path / "c.png", metric="accuracy", size=SIZE, dpi=DPI))


def test_efficiency_scatter(tmp_path: Path) -> None:
    points = pd.DataFrame(
        {"model": ["a", "b", "c", "d", "e"], "cost": [1.0, 2.0, 3.0, 2.5, np.nan],
         "score": [0.5, 0.7, 0.72, 0.6, 0.9]}
    )  # fmt: skip
    path = plot_efficiency_scatter(
        points, "latency (ms)", "accuracy", tmp_path / "e.png", size=SIZE, dpi=DPI
    )
    _pixels(path)
    logged = plot_efficiency_scatter(
        points, "FLOPs", "accuracy", tmp_path / "e2.png", log_cost=True, size=SIZE, dpi=DPI
    )
    _pixels(logged)


def test_pareto_front_of_a_small_example() -> None:
    points = pd.DataFrame(
        {"model": list("abcdef"), "cost": [1, 2, 2, 3, 3, np.nan], "score": [1, 3, 2, 3, 4, 9]}
    )
    # b (2, 3) dominates c (2, 2) and d (3, 3); e (3, 4) is better than all in score.
    assert pareto_front(points) == [0, 1, 4]


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    points = rng.integers(0, 5, size=(n, 2)).astype(np.float64)  # many equal costs and scores
    if seed % 4 == 0:
        points[rng.integers(0, n)] = [np.nan, 1.0]
    if seed % 5 == 0:
        points = np.vstack([points, points[:3]])  # exact duplicates
    got = pareto_front(points)
    assert set(got) == _brute_force_front(points)
    assert len(got) == len(set(got))
    assert list(np.argsort(points[got, 0], kind="stable")) == list(range(len(got)))


def test_pareto_front_of_all_nan_is_empty() -> None:
    assert pareto_front(np.full((3, 2), np.nan)) == []


def test_png_to_data_uri_round_trips(tmp_path: Path) -> None:
    path = plot_contribution(
        pd.DataFrame({"modality": ["a"], "shapley": [0.1], "leave_one_out": [0.2]}),
        tmp_path / "p.png",
        size=SIZE,
        dpi=DPI,
    )
    uri = png_to_data_uri(path)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix) :])
    assert data == path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (120, 100)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(PlotError, match="not a PNG"):
        png_to_data_uri(tmp_path / "x.txt")


def test_plotting_never_imports_pyplot(tmp_path: Path) -> None:
    code = (
        "import sys, pandas as pd\n"
        "from polymodal.report.plots import plot_contribution\n"
        "df = pd.DataFrame({'modality': ['a'], 'shapley': [0.1], 'leave_one_out': [0.2]})\n"
        f"plot_contribution(df, {str(tmp_path / 'p.png')!r})\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert (tmp_path / "p.png").is_file()
