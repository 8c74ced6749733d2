"""Every built-in task runs end to end on the real data, on a few samples, with tiny models
(random weights: the numbers are not the point, the path from task file to metrics is)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymodal.adapters import create_adapter
from polymodal.tasks import evaluate_task, find_task, load_records

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
pytestmark = pytest.mark.skipif(
    not (DATA / "flickr8k-1k").is_dir(), reason="../shared/data (Flickr8k-1k, Tatoeba) is absent"
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    pytest.importorskip("transformers")
    from polymodal.adapters.tiny import save_tiny_clip, save_tiny_lm, save_tiny_vlm

    root = tmp_path_factory.mktemp("builtin")
    return {
        "hf": create_adapter(f"hf:{save_tiny_vlm(root / 'vlm')}", device="cpu"),
        "clip": create_adapter(f"clip:{save_tiny_clip(root / 'clip')}", device="cpu"),
        "hf_lm": create_adapter(f"hf_lm:{save_tiny_lm(root / 'lm')}", device="cpu"),
    }


@pytest.mark.parametrize(
    ("name", "model", "method"),
    [
        ("easy-vqa", "hf", "generate"),
        ("flickr8k-captions", "hf", "generate"),
        ("flickr8k-yes-no", "hf", "score"),
        ("flickr8k-retrieval", "clip", "score"),
        ("tatoeba-zh-en", "hf_lm", "generate"),
    ],
)
def test_builtin_task_runs(name: str, model: str, method: str, models, tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_DATA", str(DATA))
    task = find_task(name)
    if name == "flickr8k-captions":  # one template, no METEOR: each Java start costs seconds
        spec = task.spec.model_copy(deep=True)
        spec.prompt.templates, spec.metrics = spec.prompt.templates[:1], ["cider_d", "bleu"]
        task = type(task)(spec, task.path, task.sha256)
    result = evaluate_task(task, models[model], tmp_path, limit=6, batch_size=3, resamples=20)
    payload = result.payload
    assert payload["method"] == method
    assert payload["num_samples"] == 6
    assert len(result.table) == 6 * len(task.spec.prompt.templates)
    assert set(payload["metrics"]) == set(task.spec.metrics)
    assert payload["task"]["sha256"] == task.sha256
    if name == "flickr8k-retrieval":  # the gallery is the captions of the 6 photos: 30
        assert result.table["rank"].between(1, 30).all()


def test_splits_are_disjoint_by_photo_and_yes_no_is_balanced(monkeypatch) -> None:
    monkeypatch.setenv("POLYMODAL_DATA", str(DATA))
    test = {r.id for r in load_records(find_task("flickr8k-captions"))}
    train_task = find_task("flickr8k-captions")
    spec = train_task.spec.model_copy(deep=True)
    spec.data.split = "train"
    train = {r.id for r in load_records(type(train_task)(spec, train_task.path, "x"))}
    assert len(test) == 100
    assert len(train) == 800
    assert not test & train
    yes_no = load_records(find_task("flickr8k-yes-no"))
    labels = [r.fields["label"] for r in yes_no]
    assert labels.count("yes") == labels.count("no") == 100
    for yes, no in zip(yes_no[::2], yes_no[1::2], strict=True):
        assert yes.fields["image"] == no.fields["image"]
        assert yes.fields["caption"] != no.fields["caption"]
