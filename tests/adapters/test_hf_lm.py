"""The text-only causal-LM adapter (the blind baseline) on a tiny Llama built from a config."""

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
)

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    from polymodal.adapters.tiny import save_tiny_lm

    folder = save_tiny_lm(tmp_path_factory.mktemp("lm") / "model")
    return create_adapter(f"hf_lm:{folder}", device="cpu")


def _request(i: int, text: str) -> Request:
    return Request(f"s{i}", (Message("system", ("be brief",)), Message("user", (text,))))


def test_prompt_batched_generation_and_scores(adapter) -> None:
    request = _request(0, "hi")
    assert adapter._prompt(request) == "system: be brief\nuser: hi\nassistant:"
    requests = [_request(i, "question" + "?" * i) for i in range(3)]
    settings = GenerationSettings(max_new_tokens=5)
    batched = [g.text for g in adapter.generate(requests, settings)]
    assert batched == [adapter.generate([r], settings)[0].text for r in requests]
    prompt = adapter._prompt(request)
    scores = adapter.score(request, ["yes", "no"])
    for candidate, score in zip(["yes", "no"], scores, strict=True):
        ids = adapter.tokenizer(prompt + candidate, return_tensors="pt", add_special_tokens=False)
        n = len(adapter.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            logp = torch.log_softmax(adapter.model(**ids).logits[0].float(), -1)
        row = ids["input_ids"][0]
        assert score == pytest.approx(
            sum(float(logp[t - 1, row[t]]) for t in range(n, len(row))), abs=1e-4
        )


def test_an_image_is_refused_naming_the_sample(adapter, tmp_path: Path) -> None:
    request = Request("s9", (Message("user", (ImageInput(path=str(tmp_path / "x.png")), "q")),))
    with pytest.raises(AdapterError, match="sample s9") as info:
        adapter.generate([request], GenerationSettings())
    assert "drop_image" in str(info.value)
