"""``polymodal serve`` end to end: a real server process in front of a tiny vision-language
model, the HTTP client against it, a user's own task file, and resuming an interrupted
evaluation with no repeated call (the server counts its calls)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import polymodal
from polymodal.adapters import create_adapter
from polymodal.cli.main import app
from polymodal.tasks import evaluate_task, load_task_file, read_result

pytest.importorskip("transformers")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from polymodal.adapters.tiny import save_images, save_tiny_vlm

    root = tmp_path_factory.mktemp("serve")
    folder = save_tiny_vlm(root / "model")
    images = save_images(root / "task" / "images", 5)
    env = dict(os.environ, PYTHONPATH=str(Path(polymodal.__file__).parents[1]))
    process = subprocess.Popen(
        [sys.executable, "-m", "polymodal.cli.main", "--quiet", "serve", str(folder), "--port", "0",
         "--name", "tiny", "--option", "device=cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("serving"), process.stderr.read()
        yield line.split(" at ")[1].strip(), folder, root / "task", images
    finally:
        process.terminate()
        process.wait(timeout=30)


def _user_task(folder: Path, images: list[Path]) -> Path:
    rows = [{"id": f"q{i}", "picture": f"images/{p.name}", "question": f"what is shape {i}?",
             "answer": "circle"} for i, p in enumerate(images)]  # fmt: skip
    (folder / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    path = folder / "my-task.yaml"
    path.write_text(yaml.safe_dump({
        "name": "my-shapes",
        "data": {"source": "manifest", "params": {"path": "rows.jsonl", "fields": {
            "picture": "image", "question": "text", "answer": "text"}}},
        "prompt": {"system": "Answer briefly.",
                   "templates": ["{picture}Q: {question}", "{question} {picture}"]},
        "output": {"type": "generate", "target": "answer"},
        "extraction": "exact",
        "metrics": ["accuracy", "token_f1"],
        "generation": {"max_new_tokens": 5},
    }), encoding="utf-8")  # fmt: skip
    return path


def _calls(url: str) -> int:
    return _get(url.removesuffix("/v1") + "/polymodal/stats")["completions"]


def test_user_task_through_the_server_equals_the_model_itself(served, tmp_path: Path) -> None:
    url, folder, task_dir, images = served
    assert _get(url + "/models")["data"][0]["id"] == "tiny"
    task = load_task_file(_user_task(task_dir, images))
    before = _calls(url)
    result = CliRunner().invoke(app, [
        "tasks", "run", str(task.path), f"openai:{url}", "--out", str(tmp_path / "http"),
        "--option", "model=tiny", "--option", "concurrency=2", "--bootstrap", "50",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _calls(url) - before == 10  # 5 samples x 2 templates
    over_http, payload = read_result(tmp_path / "http")
    assert payload["task"]["sha256"] == task.sha256
    assert payload["failed"]["count"] == 0
    local = evaluate_task(task, create_adapter(str(folder), device="cpu"), tmp_path / "local",
                          resamples=0).table  # fmt: skip
    assert list(over_http["raw_output"]) == list(local["raw_output"])  # greedy: same text


def test_interrupted_evaluation_resumes_without_repeated_calls(served, tmp_path: Path) -> None:
    url, _, task_dir, images = served
    task = load_task_file(_user_task(task_dir, images))
    cache = tmp_path / "cache"
    client = create_adapter(f"openai:{url}", model="tiny", concurrency=1, cache=str(cache))
    put, stored = client.cache.put, []

    def put_then_interrupt(key, response):
        put(key, response)
        stored.append(key)
        if len(stored) == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C after three answers

    client.cache.put = put_then_interrupt
    start = _calls(url)
    with pytest.raises(KeyboardInterrupt):
        evaluate_task(task, client, tmp_path / "out", resamples=0)
    assert _calls(url) - start == 3
    assert not (tmp_path / "out" / "metrics.json").exists()
    again = create_adapter(f"openai:{url}", model="tiny", concurrency=1, cache=str(cache))
    table = evaluate_task(task, again, tmp_path / "out", resamples=0).table
    assert _calls(url) - start == 10  # the 7 unanswered requests only
    assert len(table) == 10
    third = create_adapter(f"openai:{url}", model="tiny", cache=str(cache))
    evaluate_task(task, third, tmp_path / "out", resamples=0)
    assert _calls(url) - start == 10  # everything from the cache
    assert third.calls == 0


def test_malformed_request_gets_400(served) -> None:
    url, *_ = served
    request = urllib.request.Request(url + "/chat/completions", data=b"{not json", method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 400
    assert "error" in json.loads(info.value.read())
