"""The Hugging Face vision-language adapter on a tiny LLaVA built from configs (no hub):
batched generation equals one-by-one, candidate log-likelihoods equal a hand computation, and an
undecodable image is an error naming the sample."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polymodal.adapters import (
    AdapterError,
    GenerationSettings,
    ImageInput,
    Message,
    Request,
    create_adapter,
    resolve_spec,
)

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from polymodal.adapters.tiny import save_images, save_tiny_vlm

    root = tmp_path_factory.mktemp("vlm")
    folder = save_tiny_vlm(root / "model")
    images = save_images(root / "images", 4)
    return folder, images


def _request(i: int, image: Path, text: str) -> Request:
    return Request(f"s{i}", (Message("user", (ImageInput(path=str(image)), text)),))


def test_folder_resolves_to_hf_and_batched_generation_equals_one_by_one(tiny) -> None:
    folder, images = tiny
    assert resolve_spec(str(folder)) == ("hf", str(folder))
    adapter = create_adapter(str(folder), device="cpu")
    requests = [_request(i, p, "what is it?" + " please" * i) for i, p in enumerate(images)]
    settings = GenerationSettings(max_new_tokens=6)
    batched = [g.text for g in adapter.generate(requests, settings)]
    alone = [adapter.generate([r], settings)[0].text for r in requests]
    assert batched == alone
    assert all(len(t) > 0 for t in batched)


def test_score_is_the_log_likelihood_of_each_candidate(tiny) -> None:
    folder, images = tiny
    adapter = create_adapter(f"hf:{folder}", device="cpu")
    request = _request(0, images[0], "colour?")
    candidates = ["yes", "no", "a longer answer"]
    scores = adapter.score(request, candidates)
    prompt = adapter._prompt(request)
    pil = images[0]
    from PIL import Image

    image = Image.open(pil).convert("RGB")
    n_prompt = adapter.processor(text=[prompt], images=[image], return_tensors="pt")[
        "input_ids"
    ].shape[1]
    for candidate, score in zip(candidates, scores, strict=True):
        inputs = adapter.processor(text=[prompt + candidate], images=[image], return_tensors="pt")
        with torch.no_grad():
            logp = torch.log_softmax(adapter.model(**inputs).logits[0].float(), -1)
        ids = inputs["input_ids"][0]
        expected = sum(float(logp[t - 1, ids[t]]) for t in range(n_prompt, len(ids)))
        assert score == pytest.approx(expected, abs=1e-4)


def test_undecodable_image_names_the_sample(tiny, tmp_path: Path) -> None:
    folder, _ = tiny
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    adapter = create_adapter(f"hf:{folder}", device="cpu")
    with pytest.raises(AdapterError, match="sample s7"):
        adapter.generate([_request(7, broken, "hi")], GenerationSettings(max_new_tokens=2))
    _, images = tiny
    text_only = Request("s8", (Message("user", ("an <image> marker but no picture",)),))
    with pytest.raises(AdapterError, match="sample s8"):  # the processor refuses it in a batch
        adapter.generate([_request(0, images[0], "ok"), text_only], GenerationSettings())
