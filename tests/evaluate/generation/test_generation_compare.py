"""``polymodal compare`` on two generation runs: corpus scores as sacrebleu, paired bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sacrebleu")
from sacrebleu.metrics import BLEU, CHRF

from polymodal.errors import PolymodalError
from polymodal.evaluate.compare import compare_runs
from polymodal.evaluate.generation.corpus import generation_metric
from polymodal.evaluate.generation.table import add_statistics, inputs_from_table, score_texts
from polymodal.evaluate.stats import paired_bootstrap


def _run(folder: Path, ids: list[str], hyps: list[str], refs: list[list[str]]) -> Path:
    folder.mkdir()
    table = pd.DataFrame({"id": ids, "hypothesis": hyps, "references": refs})
    table.to_parquet(folder / "predictions.parquet")
    signature = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    info = {"task": "generation", "metrics": {"bleu": 0.0, "chrf": 0.0},
            "signatures": {"bleu": signature}}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(info))
    return folder


def test_scores_equal_sacrebleu_and_the_test_is_the_paired_bootstrap(tatoeba, tmp_path) -> None:
    en = tatoeba["en"][:300]
    ids = [f"s{i}" for i in range(300)]
    refs = [[r] for r in en]
    a = _run(tmp_path / "a", ids, tatoeba["hyp_en"][:300], refs)
    shuffled = list(reversed(ids))  # row order does not matter: samples pair by id
    b_hyps = dict(zip(ids, tatoeba["hyp_en_b"][:300], strict=True))
    b_refs = dict(zip(ids, refs, strict=True))
    b = _run(tmp_path / "b", shuffled, [b_hyps[i] for i in shuffled], [b_refs[i] for i in shuffled])
    rows = {r["metric"]: r for r in compare_runs(a, b, resamples=500, seed=3).rows}
    bleu_a = BLEU().corpus_score(tatoeba["hyp_en"][:300], [en]).score
    bleu_b = BLEU().corpus_score(tatoeba["hyp_en_b"][:300], [en]).score
    assert rows["bleu"]["a"] == pytest.approx(bleu_a, abs=1e-9)
    assert rows["bleu"]["b"] == pytest.approx(bleu_b, abs=1e-9)
    assert rows["bleu"]["difference"] == pytest.approx(bleu_a - bleu_b, abs=1e-9)
    chrf_a = CHRF().corpus_score(tatoeba["hyp_en"][:300], [en]).score
    assert rows["chrf"]["a"] == pytest.approx(chrf_a, abs=1e-9)
    inputs = []  # the same test by hand: statistics of each system in id order, paired_bootstrap
    order = sorted(range(300), key=lambda i: ids[i])
    for hyps in (tatoeba["hyp_en"][:300], tatoeba["hyp_en_b"][:300]):
        stats, options = score_texts([hyps[i] for i in order], [refs[i] for i in order], ["bleu"])
        inputs.append(inputs_from_table(add_statistics(pd.DataFrame({"i": ids}), stats), options))
    test = paired_bootstrap(generation_metric("bleu"), *inputs, 300, resamples=500, seed=3)
    assert rows["bleu"]["p_value"] == test.p_value
    assert (rows["bleu"]["ci_low"], rows["bleu"]["ci_high"]) == (test.ci_low, test.ci_high)
    assert rows["bleu"]["ci_low"] > 0 or rows["bleu"]["ci_high"] < 0  # clearly different
    assert np.isclose(compare_runs(a, a, resamples=200).rows[0]["difference"], 0.0)


def test_runs_on_other_samples_or_references_are_refused(tatoeba, tmp_path) -> None:
    en = tatoeba["en"][:20]
    a = _run(tmp_path / "a", [f"s{i}" for i in range(20)], en, [[r] for r in en])
    b = _run(tmp_path / "b", [f"t{i}" for i in range(20)], en, [[r] for r in en])
    with pytest.raises(PolymodalError, match="do not hold the same samples"):
        compare_runs(a, b)
    c = _run(tmp_path / "c", [f"s{i}" for i in range(20)], en, [[r + " !"] for r in en])
    with pytest.raises(PolymodalError, match="sample 's0' has other references"):
        compare_runs(a, c)
