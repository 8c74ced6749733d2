"""A LLaVA-style run end to end on a tiny Llama: task export -> image tokens and the question's
own LM embeddings -> ``causal_lm`` (identity projector) -> a run the ``run:`` adapter serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from polymodal.adapters.base import GenerationSettings, ImageInput, Message, Request
from polymodal.adapters.run import RunAdapter
from polymodal.config import parse_config
from polymodal.tasks import load_task_file
from polymodal.tasks.export import export_manifest
from polymodal.train.run import train

ANSWER = {"red": "cat", "blue": "dog", "green": "mat"}  # words the tiny LM's vocabulary has
RGB = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0)}


def _task(folder: Path) -> object:
    rows = []
    for i in range(18):
        colour = list(RGB)[i % 3]
        name = f"{colour}{i}.png"
        shade = tuple(max(0, c - 8 * (i // 3)) for c in RGB[colour])
        Image.new("RGB", (8, 8), shade).save(folder / name)
        rows.append({"id": f"q{i}", "image": name, "question": "the cat", "answer": ANSWER[colour]})
    (folder / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    raw = {
        "name": "shapes",
        "data": {"source": "manifest", "params": {"path": "rows.jsonl", "fields": {
            "image": "image", "question": "text", "answer": "text"}}},
        "prompt": {"templates": ["{image}{question}"]},
        "output": {"type": "generate", "target": "answer"}, "metrics": ["accuracy"],
    }  # fmt: skip
    (folder / "task.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_task_file(folder / "task.yaml")


def _config(manifest: Path, lm: Path) -> dict:
    return {
        "seed": 0,
        "data": {"name": "manifest", "path": str(manifest), "task": "generation",
                 "label": "references", "id_column": "id",
                 "modalities": {
                     "image": {"kind": "image", "column": "image", "size": [8, 8]},
                     "prompt": {"kind": "text", "column": "prompt", "tokenizer": "hf",
                                "tokenizer_path": str(lm), "max_length": 8}},
                 "val_fraction": 0.0, "test_fraction": 0.0},
        "model": {
            "encoders": {"image": {"name": "cnn", "out_dim": 16, "channels": 4, "num_blocks": 1},
                         "prompt": {"name": "lm_embedding", "model": str(lm)}},
            "decoder": {"name": "causal_lm", "model": str(lm), "projector": "identity",
                        "finetune": "last_n", "last_n": 1},
        },
        "train": {"max_epochs": 30, "batch_size": 8, "lr": 0.01, "progress": False},
        "generation": {"max_target_length": 4, "max_new_tokens": 3},
    }  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_lm_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("llava")
    manifest = export_manifest([_task(folder)], folder / "data", blind_fraction=0.0)
    out = folder / "run"
    train(parse_config(_config(manifest, tiny_lm_dir)), out)
    return out


def _request(i: int, photo: str | None) -> Request:
    """The chat the task renders: the photo (None: no image), then the question."""
    parts = (ImageInput(path=photo),) if photo is not None else ()
    return Request(f"r{i}", (Message("user", (*parts, "the cat")),))


def test_the_run_answers_from_the_picture_and_uses_the_lms_vocabulary(
    run_dir: Path, tmp_path: Path
) -> None:
    record = json.loads((run_dir / "checkpoint" / "target_tokenizer.json").read_text())
    assert record == {"source": "decoder"}  # the LM's own vocabulary, nothing fitted
    photos = {c: str(tmp_path / f"{c}.png") for c in RGB}  # unseen shades: the pure colours
    for colour, rgb in RGB.items():
        Image.new("RGB", (8, 8), rgb).save(photos[colour])
    adapter = RunAdapter(str(run_dir))
    assert adapter.model.modality_embed is None  # identity projector: memory reaches the LM
    requests = [_request(i, photos[c]) for i, c in enumerate(RGB)]
    texts = [g.text for g in adapter.generate(requests, GenerationSettings(max_new_tokens=3))]
    assert texts == [ANSWER[c] for c in RGB]
    scores = adapter.score(_request(0, photos["blue"]), ["cat", "dog", "mat"])
    assert int(scores.argmax()) == 1


def test_the_question_reaches_the_lm_as_its_own_token_embeddings(run_dir: Path) -> None:
    adapter = RunAdapter(str(run_dir))
    sample = adapter.inputs.sample(_request(0, None))
    ids = sample.inputs["prompt"]
    assert ids.tolist() == [3, 4]  # "the cat" in the tiny LM's vocabulary
    batch = adapter.batch([_request(0, None)])
    with torch.no_grad():
        out = adapter.model(batch)
    table = adapter.model.decoder.lm.get_input_embeddings().weight
    prompt_tokens = out.output[0, -2:]  # the image is absent: masked; then the two words
    torch.testing.assert_close(prompt_tokens, table[[3, 4]], rtol=0, atol=0)
