"""The dual-encoder adapter on a tiny CLIPModel built from configs: its scores equal CLIP's own
logits, and a zero-shot classification task picks the highest-scoring choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from polymodal.adapters import ImageInput, Message, Request, create_adapter, resolve_spec
from polymodal.tasks import evaluate_task, load_task_file

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from polymodal.adapters.tiny import save_images, save_tiny_clip

    root = tmp_path_factory.mktemp("clip")
    return save_tiny_clip(root / "model"), save_images(root / "images", 5)


def test_scores_equal_clip_logits_per_image(tiny) -> None:
    folder, images = tiny
    assert resolve_spec(str(folder))[0] == "clip"
    adapter = create_adapter(str(folder), device="cpu")
    texts = ["a red circle", "a blue square", "green"]
    request = Request("s0", (Message("user", (ImageInput(path=str(images[0])),)),))
    scores = adapter.score(request, texts)
    from PIL import Image

    pixels = adapter.image_processor(images=[Image.open(images[0]).convert("RGB")],
                                     return_tensors="pt")["pixel_values"]  # fmt: skip
    tokens = adapter.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = adapter.model(**tokens, pixel_values=pixels).logits_per_image[0]
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-5, atol=1e-5)
    assert len(set(np.round(scores, 6))) == 3


def test_zero_shot_classification_task(tiny, tmp_path: Path) -> None:
    folder, images = tiny
    rows = [
        {"id": f"p{i}", "image": str(p), "label": ["cat", "dog"][i % 2]}
        for i, p in enumerate(images)
    ]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    task_file = tmp_path / "zs.yaml"
    task_file.write_text(yaml.safe_dump({
        "name": "zero-shot",
        "data": {"source": "manifest", "params": {"path": "rows.jsonl",
                 "fields": {"image": "image", "label": "text"}}},
        "prompt": {"templates": ["{image}"]},
        "output": {"type": "multiple_choice", "target": "label", "choices": ["cat", "dog"],
                   "choice_template": "a photo of a {choice}"},
        "metrics": ["accuracy"],
    }), encoding="utf-8")  # fmt: skip
    adapter = create_adapter(f"clip:{folder}", device="cpu")
    table = evaluate_task(load_task_file(task_file), adapter, tmp_path / "o", resamples=0).table
    for row, image in zip(table.itertuples(), images, strict=True):
        request = Request(row.id, (Message("user", (ImageInput(path=str(image)),)),))
        scores = adapter.score(request, ["a photo of a cat", "a photo of a dog"])
        assert row.answer == ["cat", "dog"][int(np.argmax(scores))]
    assert table["score"].mean() == pytest.approx(np.mean(table["answer"] == table["target"]))
