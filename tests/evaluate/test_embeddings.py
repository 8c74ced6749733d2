"""Retrieval from embeddings made elsewhere: both directions, exclusions counted (issue 12.7)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.errors import DataError
from polymodal.evaluate.embeddings import evaluate_embeddings
from polymodal.evaluate.metrics import retrieval_metrics


def make_file(tmp_path, *, zero_gallery: int | None = None):
    rng = np.random.default_rng(0)
    query, gallery = rng.normal(size=(20, 6)), rng.normal(size=(25, 6))
    pairs = np.array([[q, q] for q in range(20)] + [[q, q + 1] for q in range(0, 20, 4)])
    if zero_gallery is not None:
        gallery[zero_gallery] = 0.0
    np.savez(tmp_path / "emb.npz", query=query, gallery=gallery, positives=pairs)
    return query, gallery, pairs


def test_both_directions_exclude_and_count_items_that_cannot_be_ranked(tmp_path):
    query, gallery, pairs = make_file(tmp_path, zero_gallery=3)
    payload = evaluate_embeddings(tmp_path / "emb.npz", tmp_path / "out", resamples=100)
    # gallery 20..24 have no query pointing to them, gallery 3 is all zeros
    keep_g = np.ones(25, dtype=bool)
    keep_g[3] = False
    kept = pairs[keep_g[pairs[:, 1]]]
    index = np.cumsum(keep_g) - 1
    lists = [sorted(index[kept[kept[:, 0] == q, 1]]) for q in range(20)]
    used = [q for q in range(20) if lists[q]]
    expected = retrieval_metrics(
        query[used], gallery[keep_g], positives=[lists[q] for q in used], ks=(1, 5, 10)
    )
    for key in ("R@1", "R@5", "recall@5", "mrr", "map@10", "map@r"):
        assert payload["metrics"][f"query->gallery/{key}"] == pytest.approx(expected[key])
    forward = payload["excluded"]["query->gallery"]
    backward = payload["excluded"]["gallery->query"]
    assert forward["zero_embedding_gallery"] == 1
    assert backward["zero_embedding_queries"] == 1
    assert backward["no_relevant_item"] == 5  # gallery items 20..24: no positive query
    assert payload["metrics"]["gallery->query/queries"] == 25 - 1 - 5
    low = payload["intervals"]["query->gallery/R@1"]["low"]
    assert low <= payload["metrics"]["query->gallery/R@1"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "no_relevant_item: 5" in report


def test_cli_retrieval_task_and_bad_files(tmp_path):
    make_file(tmp_path)
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "emb.npz"), "--task", "retrieval", "--bootstrap", "50"]
    )
    assert result.exit_code == 0, result.output
    assert "excluded from gallery->query: no_relevant_item 5" in result.output
    written = json.loads((tmp_path / "emb-evaluation" / "metrics.json").read_text())
    assert "query->gallery/recall@10" in written["metrics"]
    np.savez(tmp_path / "bad.npz", query=np.ones((2, 2)))
    with pytest.raises(DataError, match="needs query, gallery and one relevance"):
        evaluate_embeddings(tmp_path / "bad.npz", tmp_path / "x")
