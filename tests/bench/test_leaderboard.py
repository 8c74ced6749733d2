"""Leaderboard: seed aggregation, paired tests against the best, Holm, formats, CLI.

Predictions are made up (no training), so every number is checked against scipy or a hand
computation on the same arrays.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from polymodal.bench.leaderboard import CellResult, build_leaderboard, compute_leaderboard
from polymodal.bench.store import STORE_FILE, PlannedCell, SQLiteStore, new_owner
from polymodal.cli.main import app

N = 60
CLASSES = 3
SKILL = {"A": 0.9, "B": 0.7, "C": 0.55}  # chance of a correct prediction


def predictions(model: str, seed: int, skill: float) -> pd.DataFrame:
    """A made-up predictions table; the seed fixes the samples (targets), as a dataset seed does."""
    data = np.random.default_rng(seed)
    target = data.integers(0, CLASSES, N)
    rng = np.random.default_rng([seed, ord(model[0])])
    correct = rng.random(N) < skill
    prediction = np.where(correct, target, (target + rng.integers(1, CLASSES, N)) % CLASSES)
    scores = np.full((N, CLASSES), 0.1)
    scores[np.arange(N), prediction] = 0.8
    table = pd.DataFrame(
        {
            "id": [f"sample-{i}" for i in range(N)],
            "target": target,
            "prediction": prediction,
            "scores": list(scores),
            "perturbation": "none",
            "severity": 0,
        }
    )
    noise = table.assign(perturbation="noise:image", severity=3)  # must be ignored
    shuffled = pd.concat([table, noise]).sample(frac=1.0, random_state=seed)  # order by id only
    return shuffled.reset_index(drop=True)


def payload(table: pd.DataFrame, *, efficiency=None, robustness=None) -> dict:
    clean = table[table["perturbation"] == "none"]
    accuracy = float((clean["target"] == clean["prediction"]).mean())
    out = {
        "task": "multiclass",
        "primary_metric": "accuracy",
        "higher_is_better": True,
        "metrics": {"accuracy": accuracy},
        "intervals": {"accuracy": {"low": accuracy - 0.1, "high": accuracy + 0.1, "level": 0.95}},
    }
    if efficiency is not None:
        out["efficiency"] = efficiency
    if robustness is not None:
        out["robustness"] = {"metric": "accuracy", "summary": robustness, "curves": []}
    return out


def made_up_cells() -> list[CellResult]:
    cells = []
    for model, skill in SKILL.items():
        seeds = (0,) if model == "C" else (0, 1)  # C ran one seed only
        for seed in seeds:
            table = predictions(model, seed, skill)
            efficiency = {"params_total": 1000 * (seed + 1), "latency_ms_p50_bs1": 2.0 + seed}
            robustness = [{"relative_robustness": 0.5 + seed / 10}, {"relative_robustness": None}]
            body = payload(table, efficiency=efficiency, robustness=robustness)
            cells.append(CellResult("d", model, seed, body, lambda t=table: t))
    return cells


def clean(model: str, seed: int) -> pd.DataFrame:
    table = predictions(model, seed, SKILL[model])
    return table[table["perturbation"] == "none"].sort_values(
        "id", key=lambda s: s.str[7:].astype(int)
    )


def holm_by_hand(p: dict[str, float]) -> dict[str, float]:
    order = sorted(p, key=p.get)
    out, running = {}, 0.0
    for i, key in enumerate(order):
        running = max(running, min(1.0, (len(p) - i) * p[key]))
        out[key] = running
    return out


def mcnemar_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    n01, n10 = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if n01 + n10 < 25:
        return stats.binomtest(n01, n01 + n10, 0.5).pvalue
    return stats.chi2.sf(max(abs(n01 - n10) - 1, 0) ** 2 / (n01 + n10), 1)


def test_ranking_seed_statistics_and_tests_against_the_best():
    board = compute_leaderboard(made_up_cells(), resamples=300)
    rows = {r.model: r for r in board.rows}
    assert [r.model for r in board.rows] == ["A", "B", "C"]
    assert [r.rank for r in board.rows] == [1, 2, 3]
    for model in ("A", "B"):
        values = [
            float((clean(model, s)["target"] == clean(model, s)["prediction"]).mean())
            for s in (0, 1)
        ]
        row = rows[model]
        assert row.mean == pytest.approx(np.mean(values))
        assert row.std == pytest.approx(np.std(values, ddof=1))
        half = stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / math.sqrt(2)
        assert (row.ci_low, row.ci_high) == pytest.approx(
            (np.mean(values) - half, np.mean(values) + half)
        )
        assert row.ci_kind == "t over seeds"
    c = rows["C"]
    assert (c.n_seeds, c.ci_kind) == (1, "bootstrap")
    assert math.isnan(c.std)
    assert (c.ci_low, c.ci_high) == pytest.approx((c.mean - 0.1, c.mean + 0.1))

    # paired on the same samples of each seed, pooled over the seeds both models ran
    def correct(model, seeds):
        return np.concatenate(
            [(clean(model, s)["target"] == clean(model, s)["prediction"]).to_numpy() for s in seeds]
        )

    raw = {
        "B": mcnemar_by_hand(correct("B", (0, 1)), correct("A", (0, 1))),
        "C": mcnemar_by_hand(correct("C", (0,)), correct("A", (0,))),
    }
    adjusted = holm_by_hand(raw)
    for model, seeds in (("B", (0, 1)), ("C", (0,))):
        row = rows[model]
        assert row.test == "mcnemar"
        assert row.paired_samples == N * len(seeds)
        assert row.p_value == pytest.approx(raw[model], rel=1e-9)
        assert row.p_holm == pytest.approx(adjusted[model], rel=1e-9)
        assert row.significant == (adjusted[model] <= 0.05)
        delta = correct(model, seeds).mean() - correct("A", seeds).mean()
        assert row.delta == pytest.approx(delta)
        assert row.delta_ci_low <= row.delta <= row.delta_ci_high
    assert rows["A"].delta is None
    assert rows["A"].p_value is None
    # efficiency and robustness: means over seeds (None values skipped)
    assert rows["A"].params == pytest.approx(1500.0)
    assert rows["A"].latency_ms_p50 == pytest.approx(2.5)
    assert rows["A"].flops_per_sample is None
    assert rows["A"].relative_robustness == pytest.approx(0.55)
    assert rows["C"].relative_robustness == pytest.approx(0.5)


def test_bootstrap_test_and_lower_is_better_metric():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(N, 1))
    cells = []
    for model, noise in (("rough", 1.0), ("fine", 0.2)):
        for seed in (0, 1):
            prediction = target + noise * np.random.default_rng([seed, len(model)]).normal(
                size=(N, 1)
            )
            table = pd.DataFrame(
                {
                    "id": [str(i) for i in range(N)],
                    "target": list(target),
                    "prediction": list(prediction),
                    "scores": list(prediction),
                }
            )
            mae = float(np.abs(prediction - target).mean())
            body = {
                "task": "regression",
                "primary_metric": "mae",
                "higher_is_better": False,
                "metrics": {"mae": mae},
            }
            cells.append(CellResult("reg", model, seed, body, lambda t=table: t))
    board = compute_leaderboard(cells, resamples=200)
    fine, rough = board.rows
    assert (fine.model, rough.model) == ("fine", "rough")  # lower MAE ranks first
    assert rough.test == "bootstrap"
    assert rough.delta > 0  # rough - fine, in MAE
    assert rough.p_holm == rough.p_value  # one comparison: Holm changes nothing
    assert rough.p_value < 0.05


def test_models_tested_on_other_samples_are_not_paired():
    cells = [c for c in made_up_cells() if c.model in ("A", "B")]
    other = predictions("B", 5, 0.7)  # another seed's samples under seed 0's name
    cells.append(
        CellResult("d", "D", 0, payload(other), lambda: other.assign(id="x" + other["id"]))
    )
    board = compute_leaderboard(cells, resamples=100)
    d = next(r for r in board.rows if r.model == "D")
    assert d.delta is None
    assert d.p_value is None
    assert any("D vs A: not paired" in note for note in board.notes)


def test_formats_markdown_csv_json():
    board = compute_leaderboard(made_up_cells(), resamples=100)
    markdown = board.to_markdown()
    assert markdown.startswith("### d (multiclass): accuracy, higher is better\n")
    header = markdown.splitlines()[2]
    assert header == (
        "| rank | model | seeds | accuracy | 95% CI | Δ vs best | p | p (Holm) | params "
        "| latency p50 bs1 (ms) | rel. robustness |"
    )
    assert "| 1 | A | 2 |" in markdown
    assert "best" in markdown
    # "p" is each model's own test against the best, "p (Holm)" the same p adjusted: never lower
    for row in board.rows[1:]:
        line = next(
            x for x in markdown.splitlines() if x.startswith(f"| {row.rank} | {row.model} |")
        )
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[6]) == pytest.approx(row.p_value, rel=1e-2, abs=1e-3)
        assert float(cells[7].rstrip(" *")) >= float(cells[6])
    frame = pd.read_csv(io.StringIO(board.to_csv()))
    assert list(frame["model"]) == ["A", "B", "C"]
    assert frame.loc[0, "mean"] == pytest.approx(board.rows[0].mean)
    payload_json = json.loads(board.to_json())
    assert payload_json["alpha"] == 0.05
    assert payload_json["rows"][2]["std"] is None  # NaN for one seed: null in strict JSON
    assert payload_json["rows"][1]["test"] == "mcnemar"


def write_bench(bench_dir, cells: list[CellResult]) -> None:
    """A benchmark directory holding made-up finished cells."""
    with SQLiteStore(bench_dir / STORE_FILE) as store:
        store.set_meta("spec", json.dumps({"name": "made-up", "leaderboard": {"resamples": 150}}))
        plan = [
            PlannedCell(f"{c.dataset}/{c.model}/{c.seed}", c.dataset, c.model, c.seed, i, "h", {},
                        f"runs/{c.model}-{c.seed}")
            for i, c in enumerate(cells)
        ]  # fmt: skip
        store.sync(plan)
        owner = new_owner()
        for cell in cells:
            record = store.claim(owner)
            run = bench_dir / record.run_path
            run.mkdir(parents=True)
            cell.predictions().to_parquet(run / "predictions.parquet")
            store.complete(record.key, owner, cell.payload)


def test_leaderboard_of_a_benchmark_directory_and_its_command(tmp_path):
    cells = made_up_cells()
    write_bench(tmp_path, cells)
    from_disk = build_leaderboard(tmp_path)
    in_memory = compute_leaderboard(made_up_cells(), resamples=150)
    assert from_disk.resamples == 150  # the spec's leaderboard options
    assert from_disk.to_json() == in_memory.to_json()
    runner = CliRunner()
    result = runner.invoke(app, ["leaderboard", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(from_disk.to_json())
    result = runner.invoke(app, ["leaderboard", str(tmp_path)])
    assert result.output == from_disk.to_markdown()
    result = runner.invoke(app, ["leaderboard", str(tmp_path), "--format", "xml"])
    assert result.exit_code == 2
    assert "md, csv or json" in result.output
    result = runner.invoke(app, ["leaderboard", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "not a benchmark directory" in result.output


def test_leaderboard_command_does_not_import_torch(tmp_path):
    write_bench(tmp_path, made_up_cells())
    code = (
        "import sys; from polymodal.cli.main import main\n"
        f"try:\n    main(['leaderboard', {str(tmp_path)!r}, '--format', 'csv'])\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dataset,task,metric,higher_is_better,rank,model,")


def test_every_model_can_be_compared_with_a_reference_model():
    board = compute_leaderboard(made_up_cells(), reference="B", resamples=200)
    rows = {r.model: r for r in board.rows}
    assert [r.model for r in board.rows] == ["A", "B", "C"]  # still ranked by the metric
    assert rows["B"].delta is None
    assert rows["B"].baseline == "B"
    # A against B on their common seeds (0, 1), pooled, by hand
    a = pd.concat([clean("A", s) for s in (0, 1)])
    b = pd.concat([clean("B", s) for s in (0, 1)])
    hit_a = (a["target"] == a["prediction"]).to_numpy()
    hit_b = (b["target"] == b["prediction"]).to_numpy()
    assert rows["A"].delta == pytest.approx(hit_a.mean() - hit_b.mean())
    p = {"A": mcnemar_by_hand(hit_a, hit_b), "C": rows["C"].p_value}
    assert rows["A"].p_holm == pytest.approx(holm_by_hand(p)["A"])
    text = board.to_markdown()
    assert "Δ vs B" in text
    assert "| reference |" in text
    assert "paired difference to `B`" in text
    missing = compute_leaderboard(made_up_cells(), reference="Z", resamples=200)
    assert missing.rows[1].baseline == "A"  # no such model: the best, with a note
    assert any("no model 'Z'" in note for note in missing.notes)


def test_the_leaderboard_says_which_weights_each_model_was_evaluated_with():
    cells = made_up_cells()
    rules = {"A": ["best", "best"], "B": ["last", "best"], "C": [None]}  # C: an older run
    for model, seeds in rules.items():
        mine = [c for c in cells if c.model == model]
        for cell, rule in zip(mine, seeds, strict=True):
            if rule is not None:
                cell.payload["weights"] = {"selection": rule, "epoch": 3, "monitor": "val/loss"}
    board = compute_leaderboard(cells, resamples=100)
    assert {r.model: r.selection for r in board.rows} == {"A": "best", "B": "mixed", "C": None}
    markdown = board.to_markdown()
    assert markdown.splitlines()[2].endswith("| rel. robustness | weights |")
    assert "| mixed |" in markdown
    assert "best: the best validation epoch" in board.legend()
    # runs that do not record the rule: no column, and the legend does not mention it
    plain = compute_leaderboard(made_up_cells(), resamples=100)
    assert "weights" not in plain.to_markdown().splitlines()[2]
    assert "validation epoch" not in plain.legend()
