"""``polymodal serve RUN_DIR`` end to end: a tiny copy run trained on real Tatoeba sentences,
served in a real server process; a user's own task file run over HTTP (``openai:URL``) gives
the texts the run's adapter writes directly, and ``polymodal tasks run TASK RUN_DIR`` too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import polymodal
from polymodal.adapters import GenerationSettings, Message, Request, create_adapter
from polymodal.cli.main import app
from polymodal.config import parse_config
from polymodal.tasks import read_result
from polymodal.train.run import train

TATOEBA = Path(__file__).parents[2] / ".." / "shared" / "data" / "tatoeba-cmn-eng" / "cmn-eng.tsv"
pytestmark = pytest.mark.skipif(not TATOEBA.is_file(), reason="needs ../shared/data (Tatoeba)")

CONFIG = {
    "name": "copy", "seed": 0,
    "data": {"name": "translation", "path": str(TATOEBA), "source": "text_en",
             "source_column": 0, "target_column": 0, "limit": 120},
    "model": {"encoders": {"text_en": {"name": "text_gru", "out_dim": 16}},
              "decoder": {"name": "transformer_decoder", "d_model": 16, "heads": 2, "layers": 1,
                          "dropout": 0.0}},
    "train": {"max_epochs": 3, "batch_size": 16, "lr": 0.01, "progress": False},
    "generation": {"max_target_length": 10, "max_new_tokens": 10},
}  # fmt: skip


def _sentences(count: int) -> list[str]:
    lines = TATOEBA.read_text(encoding="utf-8").splitlines()[:count]
    return [line.split("\t")[0].strip() for line in lines]


def _user_task(folder: Path, sentences: list[str]) -> Path:
    rows = [{"id": f"s{i}", "sentence": s, "answer": s} for i, s in enumerate(sentences)]
    (folder / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    path = folder / "copy-task.yaml"
    path.write_text(yaml.safe_dump({
        "name": "my-copy",
        "data": {"source": "manifest", "params": {"path": "rows.jsonl", "fields": {
            "sentence": "text", "answer": "text"}}},
        "prompt": {"templates": ["{sentence}"]},
        "output": {"type": "generate", "target": "answer"},
        "extraction": "normalised",
        "metrics": ["accuracy"],
        "generation": {"max_new_tokens": 10},
    }), encoding="utf-8")  # fmt: skip
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("serverun")
    run_dir = root / "run"
    train(parse_config(CONFIG), run_dir)
    env = dict(os.environ, PYTHONPATH=str(Path(polymodal.__file__).parents[1]))
    process = subprocess.Popen(
        [sys.executable, "-m", "polymodal.cli.main", "--quiet", "serve", str(run_dir), "--port",
         "0", "--name", "copy"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("serving"), process.stderr.read()
        yield line.split(" at ")[1].strip(), run_dir, root
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_user_task_over_http_equals_the_run_adapter(served, tmp_path: Path) -> None:
    url, run_dir, root = served
    sentences = _sentences(6)
    task = _user_task(root, sentences)
    runner = CliRunner()
    result = runner.invoke(app, ["tasks", "run", str(task), f"openai:{url}", "--out",
                                 str(tmp_path / "http"), "--option", "model=copy",
                                 "--bootstrap", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    over_http, payload = read_result(tmp_path / "http")
    assert payload["failed"]["count"] == 0
    result = runner.invoke(app, ["tasks", "run", str(task), str(run_dir), "--out",
                                 str(tmp_path / "local"), "--bootstrap", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    local, _ = read_result(tmp_path / "local")
    adapter = create_adapter(str(run_dir))
    requests = [Request(f"s{i}", (Message("user", (s,)),)) for i, s in enumerate(sentences)]
    direct = [g.text for g in adapter.generate(requests, GenerationSettings(max_new_tokens=10))]
    for table in (over_http, local):
        by_id = dict(zip(table["id"], table["raw_output"], strict=True))
        assert [by_id[f"s{i}"] for i in range(len(sentences))] == direct
    assert any(direct)  # the tiny run writes text, not blanks
