"""Task metrics against hand computations and reference implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from polymodal.tasks import task_metric
from polymodal.tasks.metrics import per_sample


def _value(name: str, output: str, table: pd.DataFrame) -> float:
    metric, inputs = task_metric(name, output).prepare(table)
    return float(metric.compute(inputs))


def test_accuracy_and_vqa_accuracy_by_hand() -> None:
    table = pd.DataFrame({
        "answer": ["Two", "red", "circle", ""],
        "references": [["2"], ["Red."], ["square", "circle", "circle", "circle"], ["x"]],
    })  # fmt: skip
    # accuracy (SQuAD normalisation): "two" != "2"; red ok; circle ok; empty wrong
    assert _value("accuracy", "generate", table) == pytest.approx(2 / 4)
    # vqa: "two" -> "2" ok; red ok; circle matches 3 refs of 4 -> min(1, 3/3); empty 0
    assert _value("vqa_accuracy", "generate", table) == pytest.approx(3 / 4)
    three = pd.DataFrame({"answer": ["cat"], "references": [["cat", "dog", "dog", "dog"]]})
    assert _value("vqa_accuracy", "generate", three) == pytest.approx(1 / 3)


def test_binary_metrics_equal_sklearn() -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    rng = np.random.default_rng(0)
    target = np.array(["yes", "no"] * 20)
    p_yes = np.clip(rng.normal(0.5, 0.25, 40) + 0.2 * (target == "yes"), 0, 1)
    table = pd.DataFrame({"target": target, "positive": "yes", "p_yes": p_yes})
    truth = (target == "yes").astype(int)
    assert _value("auroc", "yes_no", table) == pytest.approx(roc_auc_score(truth, p_yes), abs=1e-12)
    assert _value("f1_binary", "yes_no", table) == pytest.approx(
        f1_score(truth, (p_yes >= 0.5).astype(int)), abs=1e-12
    )


def test_ranking_metrics_by_hand() -> None:
    table = pd.DataFrame({"rank": [1.0, 3.0, 7.0, 2.0]})
    assert _value("recall@1", "ranking", table) == pytest.approx(0.25)
    assert _value("recall@5", "ranking", table) == pytest.approx(0.75)
    assert _value("mrr", "ranking", table) == pytest.approx((1 + 1 / 3 + 1 / 7 + 1 / 2) / 4)


def test_bleu_equals_sacrebleu_and_per_sample_is_sentence_level() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = ["the cat sat on the mat", "a dog runs in the park", "hello there"]
    refs = [
        ["the cat sat on a mat", "a cat is on the mat"],
        ["the dog runs in a park", "a dog is running"],
        ["hi there", "hello"],
    ]
    table = pd.DataFrame({"answer": hyps, "references": refs})
    expected = sacrebleu.corpus_bleu(hyps, [list(r) for r in zip(*refs, strict=True)]).score
    assert _value("bleu", "generate", table) == pytest.approx(expected, abs=1e-9)
    metric, inputs = task_metric("bleu", "generate").prepare(table)
    alone = pd.DataFrame({"answer": hyps[:1], "references": refs[:1]})
    assert per_sample(metric, inputs, 3)[0] == pytest.approx(_value("bleu", "generate", alone))
