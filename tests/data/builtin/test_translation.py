"""Tests of the ``translation`` dataset (generation) on real Tatoeba pairs, and of the
translation configs in configs/ on a tiny subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from polymodal.config import load_config, parse_config
from polymodal.data.builtin.translation import degrade, group_by_source, translation
from polymodal.data.builtin.translation_pairs import Pair
from polymodal.data.collate import collate_samples
from polymodal.errors import ConfigError
from polymodal.models.generative import target_tokens
from polymodal.models.generative_builder import build_generative_model
from polymodal.registry import DATASETS
from polymodal.train.generative import split_references

ROOT = Path(__file__).parents[3]
TATOEBA = ROOT / ".." / "shared" / "data" / "tatoeba-cmn-eng" / "cmn-eng.tsv"
needs_data = pytest.mark.skipif(not TATOEBA.is_file(), reason="needs ../shared/data (Tatoeba)")
CONFIGS = sorted((ROOT / "configs").glob("translation-*.yaml"))


def test_degrade_drops_words_by_the_seeded_draws() -> None:
    text = "I have a red car ."
    draws = np.random.default_rng(7).random(6)
    kept = [w for w, d in zip(text.split(), draws, strict=True) if d >= 0.5]
    assert degrade(text, 0.5, np.random.default_rng(7)) == " ".join(kept)
    assert degrade(text, 0.0, np.random.default_rng(1)) == text


def test_group_by_source_collects_every_translation_in_file_order() -> None:
    pairs = [Pair(2, "Hi.", "嗨。"), Pair(3, "Hi.", "你好。"), Pair(4, "Run.", "你用跑的。")]
    groups = group_by_source(pairs)
    assert [(p.line, refs) for p, refs in groups] == [(2, ("嗨。", "你好。")), (4, ("你用跑的。",))]


@needs_data
def test_real_pairs_one_sample_per_source_split_by_source() -> None:
    bundle = translation(seed=0, path=str(TATOEBA), source="text_en", source_column=0,
                         target_column=1, limit=3000)  # fmt: skip
    assert bundle.info.task.type == "generation"
    sources = {}
    for split, dataset in bundle.splits.items():
        for i in range(len(dataset)):
            s = dataset[i]
            sources.setdefault(tuple(s.inputs["text_en"].tolist()), set()).add(split)
            assert s.references
            assert s.target is None
    assert all(len(v) == 1 for v in sources.values())  # no source sentence in two splits
    # Tatoeba lines 1-2: "Hi." -> "嗨。" and "你好。": one sample, two references (if kept)
    full = translation(seed=0, path=str(TATOEBA), source="text_en", source_column=0,
                       target_column=1)  # fmt: skip
    found = [full.splits[s][i] for s in full.splits for i in range(len(full.splits[s]))
             if full.splits[s][i].id == "p1"]  # fmt: skip
    assert found[0].references == ("嗨。", "你好。")


@needs_data
def test_draft_modality_and_state_round_trip() -> None:
    params = {"path": str(TATOEBA), "draft": "text_draft", "drop_rate": 0.5, "limit": 500}
    bundle = DATASETS.create("translation", seed=3, **params)
    assert set(bundle.info.modalities) == {"text_zh", "text_draft"}
    assert bundle.info.modalities["text_zh"].meta["tokenizer"] == "char"
    again = DATASETS.create("translation", seed=3, state=bundle.state, **params)
    a, b = bundle.splits["test"][0], again.splits["test"][0]
    assert a.references == b.references
    assert torch.equal(a.inputs["text_draft"], b.inputs["text_draft"])


def test_bad_parameters_are_listed() -> None:
    with pytest.raises(ConfigError) as err:
        translation(seed=0, path="x.tsv", draft="text_zh", drop_rate=1.5, limit=1)
    text = str(err.value)
    assert "draft: the draft needs a name of its own" in text
    assert "drop_rate" in text
    assert "limit" in text


@needs_data
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_translation_configs_build_and_give_a_finite_loss_on_a_tiny_subset(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    raw["data"]["path"] = str(TATOEBA)
    raw["data"]["limit"] = 60
    config = parse_config(raw)
    assert load_config(path).generation == config.generation
    bundle = DATASETS.create(config.data.name, seed=0, **config.data.params)
    model = build_generative_model(
        config.model, bundle.info, texts=split_references(bundle.splits["train"]),
        gen=config.generation,
    )  # fmt: skip
    samples = [bundle.splits["train"][i] for i in range(4)]
    batch = collate_samples(samples, bundle.info.modalities)
    targets = target_tokens([s.references[0] for s in samples], model.tokenizer, 24)
    loss = model.loss(model(batch), targets)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(np.log(model.tokenizer.vocab_size), rel=0.5)
