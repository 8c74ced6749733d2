"""Image perturbations of requests, and the blind baseline's paired comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from polymodal.adapters import Generation, ImageInput, Message, Request
from polymodal.errors import UnknownComponentError
from polymodal.tasks import compare_results, evaluate_task, load_task_file
from polymodal.tasks.perturb import perturb


def _image(tmp_path: Path, name: str = "a.png", value: int = 40) -> ImageInput:
    path = tmp_path / name
    Image.fromarray(np.full((40, 60, 3), value, dtype=np.uint8)).save(path)
    return ImageInput(path=str(path), source=name)


def _request(image: ImageInput, sample: str = "s0") -> Request:
    shot = Message("user", (image, "example"))
    return Request(sample, (shot, Message("assistant", ("red",)), Message("user", (image, "q?"))))


def test_drop_removes_only_the_samples_images(tmp_path: Path) -> None:
    request = _request(_image(tmp_path))
    blind = perturb(request, "drop_image", 1.0, 0)
    assert blind.messages[-1].parts == ("q?",)
    assert blind.messages[:2] == request.messages[:2]  # the few-shot example keeps its image


def test_noise_is_seeded_per_sample_with_the_named_std(tmp_path: Path) -> None:
    image = _image(tmp_path, value=128)

    def pixels(sample: str, seed: int) -> np.ndarray:
        out = perturb(_request(image, sample), "noise_image", 0.1, seed).messages[-1].parts[0]
        return np.asarray(out.to_pil(), dtype=np.float64)

    assert np.array_equal(pixels("s0", 1), pixels("s0", 1))
    assert not np.array_equal(pixels("s0", 1), pixels("s1", 1))
    assert np.std(pixels("s0", 1) - 128) == pytest.approx(25.5, rel=0.05)


def test_mask_covers_the_severity_share_of_the_area(tmp_path: Path) -> None:
    out = perturb(_request(_image(tmp_path)), "mask_image", 0.25, 0).messages[-1].parts[0]
    grey = np.all(np.asarray(out.to_pil()) == 128, axis=-1)
    assert grey.mean() == pytest.approx(0.25)  # a 20 x 30 rectangle of 40 x 60
    assert grey[20, 30]
    assert not grey[0, 0]


def test_blind_baseline_and_its_paired_comparison(tmp_path: Path) -> None:
    rows = [{"id": f"s{i}", "image": f"i{i}.png", "answer": "red"} for i in range(10)]
    for i in range(10):
        _image(tmp_path, f"i{i}.png")
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "name": "sees", "data": {"source": "manifest", "params": {
            "path": "rows.jsonl", "fields": {"image": "image", "answer": "text"}}},
        "prompt": {"templates": ["{image}colour?"]},
        "output": {"type": "generate", "target": "answer"}, "metrics": ["accuracy"],
    }), encoding="utf-8")  # fmt: skip
    task = load_task_file(tmp_path / "t.yaml")

    class SeesImages:  # right exactly when it is shown the picture
        capabilities = frozenset({"generate"})

        def describe(self):
            return {"kind": "sees"}

        def generate(self, requests, settings):
            return [Generation("red" if r.images else "blue") for r in requests]

    with pytest.raises(UnknownComponentError, match="drop_image"):
        evaluate_task(task, SeesImages(), tmp_path / "x", perturbation="drop")
    evaluate_task(task, SeesImages(), tmp_path / "full", resamples=0)
    blind = evaluate_task(task, SeesImages(), tmp_path / "blind", perturbation="drop_image")
    assert blind.payload["metrics"]["accuracy"] == 0.0
    assert set(blind.table["perturbation"]) == {"drop_image"}
    row = compare_results(tmp_path / "full", tmp_path / "blind", resamples=200)[0]
    assert row.difference == 1.0
    assert row.p_value < 0.01
