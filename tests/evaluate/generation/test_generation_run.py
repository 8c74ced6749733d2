"""Evaluating a trained generation run: `polymodal train` then `polymodal evaluate RUN` on real
Tatoeba sentences; the numbers equal sacrebleu's on the table's texts; seeded decoding repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sacrebleu
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.decoders.options import DecodingOptions
from polymodal.errors import PolymodalError
from polymodal.evaluate.generation.run import decoding_options, generation_table
from polymodal.evaluate.run import EvaluationOptions, evaluate_run
from polymodal.rundir.generative import load_generative_run

TATOEBA = Path(__file__).parents[3] / ".." / "shared" / "data" / "tatoeba-cmn-eng" / "cmn-eng.tsv"
pytestmark = pytest.mark.skipif(not TATOEBA.is_file(), reason="needs ../shared/data (Tatoeba)")

CONFIG = f"""
seed: 0
data: {{name: translation, path: {TATOEBA}, source: text_zh, source_column: 1,
       target_column: 1, limit: 120}}
model:
  encoders: {{text_zh: {{name: text_gru, out_dim: 16}}}}
  decoder: {{name: transformer_decoder, d_model: 16, heads: 2, layers: 1}}
train: {{max_epochs: 2, batch_size: 16, lr: 0.01, progress: false}}
generation: {{tokenizer: char, max_new_tokens: 8, strategy: greedy}}
eval: {{metrics: [bleu, chrf]}}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("genrun")
    config = folder / "zh.yaml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(app, ["train", str(config), "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return folder / "run"


def test_cli_evaluate_writes_table_metrics_and_report(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert "bleu" in result.output
    payload = json.loads((run_dir / "metrics.json").read_text())
    table = pd.read_parquet(run_dir / "predictions.parquet")
    assert payload["task"] == "generation"
    assert payload["split"] == "test"
    assert payload["num_samples"] == len(table) > 0
    assert {"id", "hypothesis", "references", "finish", "stats_bleu", "stats_chrf"} <= set(table)
    signature = payload["signatures"]["bleu"]
    assert signature.startswith("nrefs:1|")
    assert "tok:zh" in signature  # Chinese references: sacrebleu's zh tokenizer
    hyps = list(table["hypothesis"])
    refs = [r[0] for r in table["references"]]
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh").score
    chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
    assert payload["metrics"]["bleu"] == pytest.approx(bleu, abs=1e-9)
    assert payload["metrics"]["chrf"] == pytest.approx(chrf, abs=1e-9)
    low, high = payload["intervals"]["chrf"]["low"], payload["intervals"]["chrf"]["high"]
    assert low <= payload["metrics"]["chrf"] <= high
    report = (run_dir / "report.md").read_text()
    assert "decoded by the run's model from text_zh: strategy greedy" in report


def test_same_seed_same_text_and_greedy_repeats(run_dir: Path) -> None:
    config, bundle, model = load_generative_run(run_dir)
    used = {"text_zh": bundle.info.modalities["text_zh"]}
    test = bundle.splits["test"]
    greedy = decoding_options(config.generation)
    first = generation_table(model, test, used, greedy, 8)
    assert list(first["hypothesis"]) == list(generation_table(model, test, used, greedy, 8)[
        "hypothesis"])  # fmt: skip
    sample = DecodingOptions(strategy="sample", seed=5, max_new_tokens=8, temperature=1.5)
    a = generation_table(model, test, used, sample, 8)
    b = generation_table(model, test, used, sample, 8)
    other = generation_table(model, test, used, sample.model_copy(update={"seed": 6}), 8)
    assert list(a["hypothesis"]) == list(b["hypothesis"])
    assert list(a["hypothesis"]) != list(other["hypothesis"])
    assert (a["num_tokens"] <= 8).all()


def test_decoding_options_follow_the_config(run_dir: Path) -> None:
    config, _, _ = load_generative_run(run_dir)
    gen = config.generation.model_copy(update={"strategy": "beam", "beam_width": 3,
                                               "stop": ["。"], "alpha": 1.0})  # fmt: skip
    options = decoding_options(gen)
    assert (options.strategy, options.beam_width, options.alpha) == ("beam", 3, 1.0)
    assert options.stop_strings == ("。",)
    assert options.max_new_tokens == 8


def test_options_of_classifiers_are_refused(run_dir: Path) -> None:
    with pytest.raises(PolymodalError, match="robustness not available for a generation run"):
        evaluate_run(run_dir, options=EvaluationOptions(robustness=True))
