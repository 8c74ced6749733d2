"""Tests of polymodal.tasks.export: a training manifest rendered exactly as the task prompts."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from polymodal.data.manifest import manifest_dataset
from polymodal.errors import ConfigError
from polymodal.tasks import load_task_file
from polymodal.tasks.export import export_manifest

COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0)}
ROWS = [
    {"id": f"q{i}", "image": f"{c}.png", "question": f"what colour {i}?", "answer": c}
    for i, c in enumerate(["red", "blue", "green", "red", "blue", "red"])
]


def _task(tmp_path: Path, output: dict | None = None) -> object:
    for name, rgb in COLOURS.items():
        Image.new("RGB", (8, 8), rgb).save(tmp_path / f"{name}.png")
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    raw = {
        "name": "colours",
        "data": {"source": "manifest", "params": {"path": "rows.jsonl", "fields": {
            "image": "image", "question": "text", "answer": "text"}}},
        "prompt": {"templates": ["{image}Question: {question}\nOne word.", "{question}{image}"]},
        "output": output or {"type": "generate", "target": "answer"},
        "metrics": ["accuracy"],
    }  # fmt: skip
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_task_file(path)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_rows_are_the_first_templates_prompts_with_copied_images(tmp_path: Path) -> None:
    task = _task(tmp_path)
    path = export_manifest([task], tmp_path / "out", blind_fraction=0.5, seed=3)
    rows = _read(path)
    plain, blind = rows[:6], rows[6:]
    assert [r["id"] for r in plain] == [f"colours/q{i}" for i in range(6)]
    assert plain[1]["prompt"] == "Question: what colour 1?\nOne word."  # image part removed
    assert [json.loads(r["references"]) for r in plain] == [[r["answer"]] for r in ROWS]
    for row, source in zip(plain, ROWS, strict=True):  # each photo copied once, named by sha256
        data = (tmp_path / source["image"]).read_bytes()
        assert row["image"] == f"images/{hashlib.sha256(data).hexdigest()[:20]}.png"
        assert (tmp_path / "out" / row["image"]).read_bytes() == data
    assert len(list((tmp_path / "out" / "images").iterdir())) == 3
    assert len(blind) == 3  # half of the six image rows, seeded
    chosen = np.sort(np.random.default_rng(3).permutation(6)[:3])
    assert [r["id"] for r in blind] == [f"colours/q{i}/blind" for i in chosen]
    assert all(r["image"] == "" for r in blind)
    assert [r["prompt"] for r in blind] == [plain[i]["prompt"] for i in chosen]
    meta = json.loads((tmp_path / "out" / "export.json").read_text())
    assert meta["tasks"] == [{"name": "colours", "sha256": task.sha256}]
    assert meta["rows"] == {"colours": 6}
    assert meta["blind_rows"] == 3


def test_the_manifest_reads_as_a_generation_dataset(tmp_path: Path) -> None:
    path = export_manifest([_task(tmp_path)], tmp_path / "out", blind_fraction=1.0)
    bundle = manifest_dataset(
        seed=0, path=path, task="generation", label="references", id_column="id",
        modalities={"image": {"kind": "image", "column": "image", "size": [8, 8]},
                    "prompt": {"kind": "text", "column": "prompt", "tokenizer": "word"}},
        val_fraction=0.0, test_fraction=0.0,
    )  # fmt: skip
    samples = {s.id: s for s in (bundle.splits["train"][i] for i in range(12))}
    assert samples["colours/q2"].references == ("green",)
    assert samples["colours/q2"].inputs["image"] is not None
    assert samples["colours/q2/blind"].inputs["image"] is None  # an absent modality
    assert samples["colours/q2/blind"].references == ("green",)


def test_only_generate_tasks_and_fractions_in_range(tmp_path: Path) -> None:
    yes_no = _task(tmp_path, {"type": "yes_no", "target": "answer"})
    with pytest.raises(ConfigError, match="cannot be exported"):
        export_manifest([yes_no], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything is written
    with pytest.raises(ConfigError, match="blind_fraction"):
        export_manifest([_task(tmp_path)], tmp_path / "out", blind_fraction=1.5)


def test_the_cli_exports_with_a_limit_and_refuses_a_yes_no_task_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from polymodal.cli.main import app

    task = _task(tmp_path)
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["tasks", "export", str(task.path), "--limit", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = _read(out / "manifest.csv")
    chosen = np.sort(np.random.default_rng(0).permutation(6)[:4])  # the task's seeded subset
    assert [r["id"] for r in rows] == [f"colours/q{i}" for i in chosen]
    yes_no = tmp_path / "yes-no"
    yes_no.mkdir()
    path = _task(yes_no, {"type": "yes_no", "target": "answer"}).path
    refused = CliRunner().invoke(app, ["tasks", "export", str(path), "--out", str(tmp_path / "n")])
    assert refused.exit_code == 2
    assert "cannot be exported" in refused.output
    assert "Traceback" not in refused.output
