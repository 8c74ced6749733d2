"""`polymodal evaluate FILE --task generation`: metrics.json, predictions table and report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

sacrebleu = pytest.importorskip("sacrebleu")

from polymodal.cli.main import app  # noqa: E402
from polymodal.evaluate.generation import (  # noqa: E402
    generation_metric,
    inputs_from_table,
    sacrebleu_paired,
)


def _write(path, hyps, refs) -> None:
    rows = [
        {"id": f"s{i}", "hypothesis": h, "references": r}
        for i, (h, r) in enumerate(zip(hyps, refs, strict=True))
    ]
    pd.DataFrame(rows).to_json(path, orient="records", lines=True, force_ascii=False)


def test_evaluate_generation_file_end_to_end(tatoeba, tmp_path) -> None:
    hyps, refs = tatoeba["hyp_zh"][:200], [[r] for r in tatoeba["zh"][:200]]
    _write(tmp_path / "zh.jsonl", hyps, refs)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "zh.jsonl"), "--task", "generation", "--out", str(out),
              "--bootstrap", "200"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "metrics.json").read_text("utf-8"))
    expected = sacrebleu.corpus_bleu(hyps, [[r[0] for r in refs]], tokenize="zh").score
    assert payload["metrics"]["bleu"] == pytest.approx(expected, abs=1e-9)  # zh picked for zh
    assert "tok:zh" in payload["signatures"]["bleu"]
    ci = payload["intervals"]["bleu"]
    assert ci["low"] < payload["metrics"]["bleu"] < ci["high"]
    assert ci["resamples"] == 200
    assert payload["metrics"]["ter"] == pytest.approx(
        sacrebleu.corpus_ter(hyps, [[r[0] for r in refs]]).score, abs=1e-9
    )
    table = pd.read_parquet(out / "predictions.parquet")
    assert len(table) == 200
    assert {"stats_bleu", "stats_chrf", "stats_ter"} <= set(table.columns)
    assert table["hypothesis"].tolist()[5:8:2] == ["", "   "]  # empty outputs kept, scored
    inputs = inputs_from_table(table)  # corpus scores from the table alone, no text re-read
    assert generation_metric("chrf").compute(inputs) == pytest.approx(
        payload["metrics"]["chrf"], abs=1e-12
    )
    report = (out / "report.md").read_text("utf-8")
    assert "tok:zh" in report
    assert "## Examples" in report


def test_two_systems_paired_from_their_tables(tatoeba, tmp_path) -> None:
    refs = [[r] for r in tatoeba["en"][:150]]
    tables = []
    for name in ("hyp_en", "hyp_en_b"):
        _write(tmp_path / f"{name}.jsonl", tatoeba[name][:150], refs)
        result = CliRunner().invoke(
            app, ["evaluate", str(tmp_path / f"{name}.jsonl"), "--task", "generation",
                  "--out", str(tmp_path / name), "--bootstrap", "0"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        tables.append(inputs_from_table(pd.read_parquet(tmp_path / name / "predictions.parquet")))
    paired = sacrebleu_paired(generation_metric("bleu"), *tables, resamples=200)
    a = sacrebleu.corpus_bleu(tatoeba["hyp_en"][:150], [tatoeba["en"][:150]]).score
    b = sacrebleu.corpus_bleu(tatoeba["hyp_en_b"][:150], [tatoeba["en"][:150]]).score
    assert (paired.baseline, paired.system) == pytest.approx((a, b), abs=1e-9)
    assert 0 < paired.p_value <= 1
    assert np.isfinite(paired.system_interval.half_width)


def test_unknown_metric_and_empty_references_are_errors(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    _write(path, ["a", "b"], [["a"], []])
    result = CliRunner().invoke(app, ["evaluate", str(path), "--task", "generation"])
    assert result.exit_code == 2
    assert "row 2 (id 's1')" in result.output
    assert "reference list is empty" in result.output


def test_generation_file_imports_neither_lightning_nor_training(tmp_path) -> None:
    """Scoring texts made elsewhere loads no training code (fresh interpreter)."""
    import subprocess
    import sys
    from pathlib import Path

    _write(tmp_path / "t.jsonl", ["a dog runs", ""], [["a dog runs"], ["two men"]])
    probe = (
        "import sys\nfrom polymodal.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as stop:\n    assert not stop.code\n"
        "print(sorted(m for m in sys.modules if m.startswith(('lightning', 'polymodal.train'))))"
    )
    src = str(Path(__file__).resolve().parents[3] / "src")
    args = ["evaluate", str(tmp_path / "t.jsonl"), "--task", "generation", "--bootstrap", "10"]
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_caption_metrics_through_evaluate_generation(flickr, tmp_path) -> None:
    """CIDEr-D and ROUGE from a file equal the libraries; intervals come with them."""
    import shutil

    if shutil.which("java") is None:
        pytest.skip("no Java runtime (PTB tokenisation)")
    from pycocoevalcap.cider.cider import Cider
    from rouge_score.rouge_scorer import RougeScorer

    from polymodal.evaluate.generation import evaluate_generation
    from polymodal.evaluate.generation.caption import ptb_tokenize

    hyps, refs = flickr["hyps"][:100], flickr["refs"][:100]
    _write(tmp_path / "c.jsonl", hyps, refs)
    names = ["cider_d", "rougeL", "token_f1"]
    payload = evaluate_generation(
        tmp_path / "c.jsonl", tmp_path / "out", metrics=names, resamples=100
    )
    tokens = ptb_tokenize([*hyps, *(r for rs in refs for r in rs)])
    gts = {i: tokens[100 + 4 * i : 104 + 4 * i] for i in range(100)}
    cider, _ = Cider().compute_score(gts, {i: [tokens[i]] for i in range(100)})
    assert payload["metrics"]["cider_d"] == pytest.approx(cider, abs=1e-9)
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    rouge = np.mean(
        [scorer.score_multi(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)]
    )
    assert payload["metrics"]["rougeL"] == pytest.approx(rouge, abs=1e-9)
    assert set(payload["intervals"]) == set(names)
    assert "pycocoevalcap" in payload["signatures"]["cider_d"]
