"""A benchmark of generation cells end to end: translation on real Tatoeba pairs, two models,
the leaderboard ranked by the spec's primary metric with a paired comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from polymodal.bench.cells import parse_spec
from polymodal.bench.leaderboard import build_leaderboard
from polymodal.bench.report import run_and_report
from polymodal.evaluate.compare import paired_difference

TATOEBA = Path(__file__).parents[2] / ".." / "shared" / "data" / "tatoeba-cmn-eng" / "cmn-eng.tsv"
pytestmark = pytest.mark.skipif(not TATOEBA.is_file(), reason="needs ../shared/data (Tatoeba)")

SPEC = f"""
name: gen
datasets:
  tatoeba-zh-en:
    name: translation
    path: {TATOEBA}
    draft: text_draft
    drop_rate: 0.3
    limit: 100
models:
  draft-only:
    encoders: {{text_draft: {{name: text_gru, out_dim: 16}}}}
    decoder: {{name: transformer_decoder, d_model: 16, heads: 2, layers: 1}}
  both:
    encoders:
      text_zh: {{name: text_gru, out_dim: 16}}
      text_draft: {{name: text_gru, out_dim: 16}}
    decoder: {{name: transformer_decoder, d_model: 16, heads: 2, layers: 1}}
seeds: [0]
train: {{max_epochs: 1, batch_size: 16, lr: 0.01}}
generation: {{max_new_tokens: 8}}
eval: {{metrics: [chrf, bleu], resamples: 50}}
leaderboard: {{resamples: 50}}
"""


def test_generation_cells_run_and_rank_by_the_primary_metric(tmp_path: Path) -> None:
    spec = parse_spec(yaml.safe_load(SPEC))
    cells_dir = tmp_path / "bench"
    result = run_and_report(spec, cells_dir)
    assert len(result.ran) == 2
    board = build_leaderboard(cells_dir)
    rows = board.rows
    assert {r.model for r in rows} == {"draft-only", "both"}
    assert {r.metric for r in rows} == {"chrf"}  # the first of eval.metrics
    assert {r.task for r in rows} == {"generation"}
    runs = {p.parent.name: p.parent for p in cells_dir.rglob("metrics.json")}
    payloads = {name: json.loads((d / "metrics.json").read_text()) for name, d in runs.items()}
    assert len(payloads) == 2
    assert all(p["primary_metric"] == "chrf" for p in payloads.values())
    assert all(p["decoding"]["max_new_tokens"] == 8 for p in payloads.values())
    by_model = {r.model: r for r in rows}
    for name, payload in payloads.items():
        model = "both" if "both" in name else "draft-only"
        assert by_model[model].mean == pytest.approx(payload["metrics"]["chrf"])
        table = pd.read_parquet(runs[name] / "predictions.parquet")
        assert len(table) == payload["num_samples"]
    assert (cells_dir / "report.html").is_file()
    compared = [r for r in rows if r.delta is not None]
    assert len(compared) == 1  # the other model against the best, paired by sample


def test_paired_generation_difference_of_a_run_with_itself_is_zero(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "id": ["a", "b", "c"], "hypothesis": ["a dog", "a cat", ""],
        "references": [["a dog"], ["the cat"], ["a bird"]],
    })  # fmt: skip
    from polymodal.evaluate.generation import add_statistics, score_texts

    stats, _ = score_texts(list(table["hypothesis"]), list(table["references"]), ["chrf"])
    scored = add_statistics(table, stats)
    diff = paired_difference((scored, scored), "generation", "chrf", resamples=100)
    assert diff.delta == 0.0
    assert (diff.ci_low, diff.ci_high) == (0.0, 0.0)
