"""``train.feature_cache`` for a generating model: the frozen EfficientNet-Lite0 of the captioning
config encodes each split once (not once per epoch), and the run equals the one that encodes
every step (same losses, same saved weights, loadable into the real model)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polymodal.config import load_config
from polymodal.encoders.efficientnet_lite import EfficientNetLiteEncoder
from polymodal.rundir.generative import load_generative_model
from polymodal.rundir.load import load_run_config, load_run_data
from polymodal.train.run import train

ROOT = Path(__file__).resolve().parents[2]
FLICKR = ROOT / ".." / "shared" / "data" / "flickr8k-1k"
CONFIG = ROOT / "configs" / "caption-flickr8k.yaml"
pytestmark = pytest.mark.skipif(
    not (FLICKR / "captions.csv").is_file(), reason="needs ../shared/data (Flickr8k-1k)"
)
PHOTOS, EPOCHS = 12, 3


def _config(tmp: Path, cache: bool):
    manifest = tmp / "captions.csv"
    if not manifest.is_file():
        with (FLICKR / "captions.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        photos = sorted({r["image"] for r in rows})[:PHOTOS]
        with manifest.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "caption"])
            writer.writerows([r["image"], r["caption"]] for r in rows if r["image"] in photos)
    config = load_config(CONFIG)
    data = config.data.model_copy(
        update={"path": str(manifest), "root": str((FLICKR / "images").resolve())}
    )
    train_cfg = config.train.model_copy(
        update={"max_epochs": EPOCHS, "batch_size": 4, "feature_cache": cache}
    )
    model = config.model.model_copy(deep=True)
    assert model.encoders["image"].params.get("out_dim") is None  # no trained projection in it
    model.decoder = model.decoder.model_copy(update={"d_model": 32, "dropout": 0.0})
    return config.model_copy(update={"data": data, "train": train_cfg, "model": model})


def _losses(run_dir: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").open()]
    return [(r["train/loss"], r["val/loss"]) for r in rows]


def test_cached_generation_run_encodes_once_and_equals_the_plain_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"n": 0}
    forward = EfficientNetLiteEncoder.forward

    def counting(self, batch):
        calls["n"] += 1
        return forward(self, batch)

    monkeypatch.setattr(EfficientNetLiteEncoder, "forward", counting)
    train(_config(tmp_path, False), tmp_path / "plain")
    plain_calls, calls["n"] = calls["n"], 0
    with caplog.at_level(logging.INFO, logger="polymodal"):
        train(_config(tmp_path, True), tmp_path / "cached")
    assert "cached features for image" in caplog.text
    # 10 / 1 / 1 photos in batches of 4: plain encodes 3 + 1 batches per epoch (plus Lightning's
    # sanity check of the val batch); cached encodes every split once: 3 + 1 + 1 batches
    assert plain_calls >= EPOCHS * 4
    assert calls["n"] == 5
    assert torch.tensor(_losses(tmp_path / "cached")).allclose(
        torch.tensor(_losses(tmp_path / "plain")), rtol=1e-4, atol=1e-5
    )
    wa = load_file(tmp_path / "plain" / "checkpoint" / "model.safetensors")
    wb = load_file(tmp_path / "cached" / "checkpoint" / "model.safetensors")
    assert wa.keys() == wb.keys()
    assert any(k.startswith("encoders.image.") for k in wb)  # frozen weights saved as usual
    for key in wa:
        assert wa[key].allclose(wb[key], rtol=1e-4, atol=1e-5), key
    run = tmp_path / "cached"
    config = load_run_config(run)
    model = load_generative_model(run, config, load_run_data(run, config))
    assert isinstance(model.encoders["image"], EfficientNetLiteEncoder)  # the real model
