"""Task files: built-in ones validate, every bad field is named before any model call, the file's
sha256 is the task's, and a user's folder works like the built-in one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from polymodal.cli.main import app
from polymodal.errors import ConfigError, PolymodalError
from polymodal.tasks import BUILTIN_DIR, find_task, list_tasks, load_task_file

GOOD = {
    "name": "my-vqa",
    "data": {"source": "manifest", "split": "test",
             "params": {"path": "rows.jsonl", "fields": {"image": "image", "question": "text",
                                                         "answer": "text"}}},
    "prompt": {"templates": ["{image}Q: {question}"]},
    "output": {"type": "generate", "target": "answer"},
    "metrics": ["accuracy"],
}  # fmt: skip


def _write(folder: Path, raw: dict, name: str = "task.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_builtin_tasks_validate_and_hash_their_bytes() -> None:
    names = [n for n, _ in list_tasks()]
    assert {"easy-vqa", "flickr8k-captions", "flickr8k-yes-no", "flickr8k-retrieval",
            "tatoeba-zh-en"} <= set(names)  # fmt: skip
    for name in names:
        task = find_task(name)
        assert task.builtin
        assert task.sha256 == hashlib.sha256(task.path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r["prompt"].update(templates=["{image} {questoin}"]),
         "prompt.templates[0]: unknown placeholder {questoin}"),
        (lambda r: r.update(metrics=["accuracy", "blue"]), "metrics[1]: unknown metric 'blue'"),
        (lambda r: r.update(extraction="letter"), "extraction: unknown extraction rule 'letter'"),
        (lambda r: r.update(extraction={"rule": "regex", "patern": "x"}), "extraction: patern"),
        (lambda r: r["output"].update(target="answers"), "output.target: unknown field"),
        (lambda r: r["data"].update(source="nope"), "data.source: unknown source 'nope'"),
        (lambda r: r.update(metrics=["auroc"]), "metrics[0]: unknown metric 'auroc' for output"),
    ],
)  # fmt: skip
def test_a_bad_task_is_refused_naming_the_field(tmp_path: Path, change, named: str) -> None:
    raw = yaml.safe_load(yaml.safe_dump(GOOD))
    change(raw)
    with pytest.raises(ConfigError) as info:
        load_task_file(_write(tmp_path, raw))
    assert named in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    raw = yaml.safe_load(yaml.safe_dump(GOOD))
    raw["prompt"]["templates"] = ["{nope}"]
    raw["metrics"] = ["nope"]
    with pytest.raises(ConfigError) as info:
        load_task_file(_write(tmp_path, raw))
    assert len(info.value.problems) == 2


def test_a_user_folder_works_like_the_builtin_one(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path, GOOD, "mine.yaml")
    shadow = dict(GOOD, name="easy-vqa")
    (tmp_path / "other").mkdir()
    _write(tmp_path / "other", shadow, "vqa.yaml")
    assert find_task("my-vqa", [tmp_path]).path == tmp_path / "mine.yaml"
    monkeypatch.setenv("POLYMODAL_TASKS", str(tmp_path / "other"))
    assert find_task("easy-vqa").path == tmp_path / "other" / "vqa.yaml"  # shadows the built-in
    result = CliRunner().invoke(app, ["tasks", "list", "--tasks-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "my-vqa" in result.output
    with pytest.raises(PolymodalError, match="unknown task 'nope'"):
        find_task("nope", [tmp_path])
    assert BUILTIN_DIR.is_dir()


def test_cli_refuses_a_bad_task_before_building_the_model(tmp_path: Path) -> None:
    raw = yaml.safe_load(yaml.safe_dump(GOOD))
    raw["prompt"]["templates"] = ["{image} {colour}"]
    path = _write(tmp_path, raw)
    # the model spec names a port nobody listens on: a model call would fail differently
    result = CliRunner().invoke(
        app,
        ["tasks", "run", str(path), "openai:http://127.0.0.1:9/v1", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 2
    assert "prompt.templates[0]: unknown placeholder {colour}" in result.output
    assert not (tmp_path / "o").exists()
