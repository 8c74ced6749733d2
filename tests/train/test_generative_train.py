"""Training a generating model end to end on real Tatoeba pairs: the loss falls, the run keeps
its target tokenizer as JSON and reloads without the training data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from polymodal.config import parse_config
from polymodal.data.collate import collate_samples
from polymodal.decoders.vocab import TextVocabulary
from polymodal.rundir.generative import load_generative_model, load_target_tokenizer
from polymodal.rundir.load import load_run_config, load_run_data
from polymodal.train.generative import split_references
from polymodal.train.run import train

TATOEBA = Path(__file__).parents[2] / ".." / "shared" / "data" / "tatoeba-cmn-eng" / "cmn-eng.tsv"
pytestmark = pytest.mark.skipif(not TATOEBA.is_file(), reason="needs ../shared/data (Tatoeba)")


def copy_config(epochs: int = 8, **data) -> dict:
    """English in, the same English out: a mapping a tiny model learns in a few epochs."""
    return {
        "seed": 0,
        "data": {"name": "translation", "path": str(TATOEBA), "source": "text_en",
                 "source_column": 0, "target_column": 0, "limit": 160} | data,
        "model": {
            "encoders": {"text_en": {"name": "text_gru", "out_dim": 32}},
            "decoder": {"name": "transformer_decoder", "d_model": 32, "heads": 2, "layers": 1,
                        "dropout": 0.0},
        },
        "train": {"max_epochs": epochs, "batch_size": 16, "lr": 0.01, "progress": False},
        "generation": {"max_target_length": 12, "max_new_tokens": 12},
    }  # fmt: skip


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("gen") / "run"
    train(parse_config(copy_config()), run_dir)
    return run_dir


def test_training_lowers_the_loss_and_keeps_the_best_val_epoch(copy_run: Path) -> None:
    rows = [json.loads(line) for line in (copy_run / "logs" / "metrics.jsonl").open()]
    train_loss = [r["train/loss"] for r in rows]
    assert len(rows) == 8
    assert train_loss[-1] < 0.6 * train_loss[0]
    best = json.loads((copy_run / "checkpoint" / "model.json").read_text())
    val = [r["val/loss"] for r in rows]
    assert best["monitor"] == "val/loss"
    assert best["epoch"] == val.index(min(val))


def test_tokenizer_is_json_fitted_on_training_references(copy_run: Path) -> None:
    record = json.loads((copy_run / "checkpoint" / "target_tokenizer.json").read_text())
    assert record["source"] == "fitted"
    config = load_run_config(copy_run)
    bundle = load_run_data(copy_run, config)
    expected = TextVocabulary.fit(split_references(bundle.splits["train"]), "word")
    assert record["state"]["pieces"] == expected.pieces
    assert not list((copy_run / "checkpoint").glob("*.ckpt"))
    assert not list((copy_run / "checkpoint").glob("*.pt"))


def test_run_reloads_without_its_data(copy_run: Path) -> None:
    config = load_run_config(copy_run)
    bundle = load_run_data(copy_run, config)
    model = load_generative_model(copy_run, config, bundle)
    # the saved tokenizer is used, not one fitted again: a bundle with no references works too
    tokenizer = load_target_tokenizer(copy_run)
    assert tokenizer is not None
    assert model.tokenizer.pieces == tokenizer.pieces  # type: ignore[attr-defined]
    samples = [bundle.splits["test"][i] for i in range(4)]
    batch = collate_samples(samples, bundle.info.modalities)
    again = load_generative_model(copy_run, config, bundle)
    targets = torch.tensor([[tokenizer.eos_id]] * 4)
    with torch.no_grad():
        assert torch.equal(model.logits(model(batch), targets),
                           again.logits(again(batch), targets))  # fmt: skip
