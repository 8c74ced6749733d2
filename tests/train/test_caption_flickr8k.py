"""configs/caption-flickr8k.yaml on a few real Flickr8k-1k photos: the split is the caption
baselines' split, the first loss is near log(V) (an untrained decoder is close to uniform), one
epoch trains to a finite loss, and evaluation writes one row per test photo with its five
captions as references and every metric of the config."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from polymodal.config import load_config
from polymodal.data.collate import collate_samples
from polymodal.data.loading import build_data
from polymodal.data.splits import random_group_split
from polymodal.evaluate.run import EvaluationOptions, evaluate_run
from polymodal.models.generative import target_tokens
from polymodal.models.generative_builder import build_generative_model
from polymodal.train.generative import split_references
from polymodal.train.run import train

ROOT = Path(__file__).resolve().parents[2]
FLICKR = ROOT / ".." / "shared" / "data" / "flickr8k-1k"
CONFIG = ROOT / "configs" / "caption-flickr8k.yaml"
pytestmark = pytest.mark.skipif(
    not (FLICKR / "captions.csv").is_file(), reason="needs ../shared/data (Flickr8k-1k)"
)
PHOTOS = 30


def _captions() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with (FLICKR / "captions.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["image"], []).append(row["caption"])
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """The config on the first ``PHOTOS`` photos, one epoch."""
    tmp = tmp_path_factory.mktemp("caption")
    captions = _captions()
    manifest = tmp / "captions.csv"
    with manifest.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        for photo in sorted(captions)[:PHOTOS]:
            writer.writerows([photo, c] for c in captions[photo])
    config = load_config(CONFIG)
    data = config.data.model_copy(
        update={"path": str(manifest), "root": str((FLICKR / "images").resolve())}
    )
    train_cfg = config.train.model_copy(update={"max_epochs": 1, "batch_size": 8})
    return config.model_copy(update={"data": data, "train": train_cfg}), tmp


def test_the_config_splits_photos_as_the_baselines_script() -> None:
    config = load_config(CONFIG)
    photos = sorted(_captions())  # the script's photo order, and the CSV's
    expected = random_group_split(photos, 0.1, 0.1, 0)  # benchmarks/caption_baselines.py
    data = config.data.model_copy(update={"path": str(FLICKR / "captions.csv")})
    rows = config.model_copy(update={"data": data}).data
    assert (rows.val_fraction, rows.test_fraction, config.seed) == (0.1, 0.1, 0)
    assert rows.group_column == "image"
    with (FLICKR / "captions.csv").open(encoding="utf-8") as handle:
        order = list(dict.fromkeys(r["image"] for r in csv.DictReader(handle)))
    assert order == photos  # groups are drawn in first-seen order: the same permutation
    assert expected.count("test") == expected.count("val") == 100


def test_first_loss_is_near_log_vocabulary(small) -> None:
    config, _ = small
    bundle = build_data(config.data, seed=config.seed)
    train_set = bundle.splits["train"]
    torch.manual_seed(0)
    model = build_generative_model(
        config.model, bundle.info, None, split_references(train_set), config.generation
    )
    encoder = model.encoders["image"]
    assert not any(p.requires_grad for p in encoder.network.parameters())  # frozen Lite0
    samples = [train_set[i] for i in range(8)]
    assert all(len(s.references) == 5 for s in samples)
    batch = collate_samples(samples, {"image": bundle.info.modalities["image"]})
    targets = target_tokens(
        [s.references[0] for s in samples], model.tokenizer, config.generation.max_target_length
    )
    model.eval()
    with torch.no_grad():
        loss = float(model.loss(model(batch), targets))
    vocab = model.tokenizer.vocab_size
    assert vocab > 20
    assert math.isfinite(loss)
    # seen: 5.69 against log(176) = 5.17 (30 photos): near uniform, a little above
    assert abs(loss - math.log(vocab)) < 0.15 * math.log(vocab), (loss, vocab)


def test_one_epoch_then_evaluation_writes_five_references_per_photo(small) -> None:
    config, tmp = small
    run = tmp / "run"
    train(config, run)
    logs = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").open()]
    assert len(logs) == 1
    assert math.isfinite(logs[0]["train/loss"])
    assert math.isfinite(logs[0]["val/loss"])
    result = evaluate_run(run, options=EvaluationOptions(resamples=20))
    table = pd.read_parquet(run / "predictions.parquet")
    captions = _captions()
    assert len(table) == 3  # 10 % of 30 photos
    for photo, refs in zip(table["image"], table["references"], strict=True):
        assert list(refs) == captions[Path(photo).name]
    assert set(result.metrics) >= {"cider_d", "bleu", "meteor", "rougeL"}
    assert all(math.isfinite(result.metrics[m]) for m in ("cider_d", "bleu", "meteor", "rougeL"))
    payload = json.loads((run / "metrics.json").read_text())
    assert payload["primary_metric"] == "cider_d"
    assert payload["decoding"]["strategy"] == "beam"
