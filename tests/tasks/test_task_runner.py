"""The evaluation runner with scripted models: table contents, failures, scores, paired tests,
prompt sensitivity."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from polymodal.adapters import Generation, GenerationSettings, Request
from polymodal.tasks import (
    compare_results,
    evaluate_task,
    load_task_file,
    ranking_sensitivity,
    read_result,
)

ROWS = [
    {"id": f"s{i}", "question": f"colour {i}?", "answer": ["red", "blue", "green"][i % 3],
     "caption": f"caption {i}", "label": ["yes", "no"][i % 2], "refs": [f"cap {i}", f"alt {i}"]}
    for i in range(12)
]  # fmt: skip


class Scripted:
    """Answers from a function of the request (and a template-dependent twist); counts calls."""

    def __init__(self, answer, capabilities=("generate",), scores=None) -> None:
        self.answer = answer
        self.capabilities = frozenset(capabilities)
        self.scores = scores
        self.batches: list[int] = []

    def describe(self) -> dict:
        return {"kind": "scripted"}

    def generate(
        self, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Generation]:
        self.batches.append(len(requests))
        return [self.answer(r) for r in requests]

    def score(self, request: Request, candidates: Sequence[str]) -> np.ndarray:
        return np.asarray(self.scores(request, candidates), dtype=np.float64)


def _task(tmp_path: Path, output: dict, metrics: list[str], templates=None, **extra) -> object:
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    raw = {
        "name": "scripted",
        "data": {"source": "manifest", "params": {"path": "rows.jsonl", "fields": {
            "question": "text", "answer": "text", "caption": "text", "label": "text",
            "refs": "texts"}}},
        "prompt": {"templates": templates or ["Q: {question}", "Question: {question}"]},
        "output": output, "metrics": metrics, **extra,
    }  # fmt: skip
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_task_file(path)


def _truth(request: Request) -> str:
    i = int(request.id[1:])
    return ROWS[i]["answer"]


def test_generate_table_scores_failures_and_hash(tmp_path: Path, same_report) -> None:
    task = _task(tmp_path, {"type": "generate", "target": "answer"}, ["accuracy"], batch_size=5)

    def answer(r: Request) -> Generation:
        i = int(r.id[1:])
        if i == 4:
            return Generation(error="HTTP 500: boom (after 4 tries)", attempts=4)
        wrong = i % 4 == 0 and r.messages[-1].text.startswith("Question")  # template 1 worse
        return Generation(f" The {'purple' if wrong else _truth(r)}. ")

    model = Scripted(answer)
    result = evaluate_task(task, model, tmp_path / "out", resamples=200)
    table, payload = read_result(tmp_path / "out")
    assert model.batches == [5, 5, 2, 5, 5, 2]  # batched by the task's batch_size
    assert len(table) == 24
    assert set(table["task_sha256"]) == {task.sha256}
    row = table[(table["id"] == "s1") & (table["template"] == 0)].iloc[0]
    assert (row["prompt"], row["raw_output"], row["answer"], row["score"]) == (
        "user: Q: colour 1?", " The blue. ", "blue", 1.0)  # fmt: skip
    failed = table[table["failed"]]
    assert list(failed["id"]) == ["s4", "s4"]
    assert (failed["score"] == 0).all()
    assert payload["failed"]["count"] == 2
    assert "HTTP 500" in payload["failed"]["errors"][0]
    per = [t["metrics"]["accuracy"] for t in payload["per_template"]]
    assert per == pytest.approx([11 / 12, 9 / 12])  # s4 failed; s0, s8 wrong under template 1
    ci = payload["intervals"]["accuracy"]
    assert ci["low"] <= per[0] <= ci["high"]
    spread = payload["sensitivity"]["accuracy"]
    assert spread["mean"] == pytest.approx(np.mean(per))
    assert spread["range"] == pytest.approx(2 / 12)
    assert payload["task"]["sha256"] == task.sha256
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "2 failed calls" in markdown
    same_report(markdown, (tmp_path / "out" / "report.html").read_text())
    assert result.payload == payload


def test_paired_comparison_and_ranking_change(tmp_path: Path) -> None:
    task = _task(tmp_path, {"type": "generate", "target": "answer"}, ["accuracy"])
    perfect = Scripted(lambda r: Generation(_truth(r)))

    def half(r: Request) -> Generation:  # right on even ids only; but perfect under template 1
        template1 = r.messages[-1].text.startswith("Question")
        return Generation(_truth(r) if template1 or int(r.id[1:]) % 2 == 0 else "x")

    evaluate_task(task, perfect, tmp_path / "a", resamples=0)
    evaluate_task(task, Scripted(half), tmp_path / "b", resamples=0)
    rows = compare_results(tmp_path / "a", tmp_path / "b", resamples=500)
    assert rows[0].difference == pytest.approx(0.5)
    assert rows[0].low > 0
    assert rows[0].p_value < 0.05
    same = compare_results(tmp_path / "a", tmp_path / "a", resamples=100)[0]
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    results = {"a": read_result(tmp_path / "a")[1], "b": read_result(tmp_path / "b")[1]}
    # template 0: a > b; template 1: tie, stable order keeps a first -> no change
    assert ranking_sensitivity(results)["accuracy"]["changes"] is False
    results = {"b": results["b"], "a": results["a"]}  # tie now keeps b first under template 1
    assert ranking_sensitivity(results)["accuracy"]["changes"] is True


def test_yes_no_by_score_gives_p_yes_from_the_two_scores(tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    task = _task(tmp_path, {"type": "yes_no", "target": "label"}, ["auroc", "accuracy"],
                 templates=["{caption}"])  # fmt: skip
    logits = {f"s{i}": (0.3 * i - 1.0, 0.1 * (i % 3)) for i in range(12)}
    model = Scripted(None, ("score",), lambda r, c: logits[r.id] if c == ["yes", "no"] else None)
    table = evaluate_task(task, model, tmp_path / "o", resamples=0).table
    expected = np.array([1 / (1 + np.exp(logits[i][1] - logits[i][0])) for i in table["id"]])
    np.testing.assert_allclose(table["p_yes"], expected, rtol=1e-12)
    truth = (table["target"] == "yes").astype(int)
    payload = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert payload["method"] == "score"
    assert payload["metrics"]["auroc"] == pytest.approx(roc_auc_score(truth, expected))


def test_ranking_rank_of_first_relevant_candidate(tmp_path: Path) -> None:
    task = _task(tmp_path, {"type": "ranking", "target": "refs", "candidates_field": "refs"},
                 ["recall@1", "mrr"], templates=["{question}"])  # fmt: skip

    def scores(r: Request, candidates: list[str]) -> list[float]:
        i = int(r.id[1:])  # own "alt i" best for even ids; for odd ids, 3 others rank above
        best = (
            {f"alt {i}": 10.0}
            if i % 2 == 0
            else {f"cap {(i + k) % 12}": 10.0 - k for k in (1, 2, 3)}
        )
        return [best.get(c, 0.0 if c != f"cap {i}" else 5.0) for c in candidates]

    table = evaluate_task(
        task, Scripted(None, ("score",), scores), tmp_path / "o", resamples=0
    ).table
    assert list(table["rank"]) == [1.0 if i % 2 == 0 else 4.0 for i in range(12)]


def test_a_model_that_cannot_answer_is_refused_before_any_call(tmp_path: Path) -> None:
    from polymodal.adapters import AdapterError

    task = _task(tmp_path, {"type": "ranking", "target": "refs", "candidates_field": "refs"},
                 ["mrr"])  # fmt: skip
    model = Scripted(lambda r: Generation("x"))
    with pytest.raises(AdapterError, match="cannot score"):
        evaluate_task(task, model, tmp_path / "o")
    assert model.batches == []
