"""The field's presets (MulT, TFN, LMF, MMBT) on an ``mmsa`` file: their interaction, fusion
and hyper-parameters unchanged, encoders for the three feature sequences, a regression head;
one trains an epoch through ``train`` and is scored with the sentiment metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from mmsa_helpers import mmsa_data, write_pickle

from polymodal.config import parse_config
from polymodal.data.collate import collate_samples
from polymodal.data.formats.mmsa import mmsa_dataset
from polymodal.models.builder import build_model
from polymodal.presets import load_preset

SEQUENCE = {"name": "audio_conv", "out_dim": 8, "channels": 8, "num_layers": 1}
SENTIMENT = ["acc2_nonzero", "f1_nonzero", "acc2_nonneg", "f1_nonneg", "acc7", "mae", "pearson"]


def _model(preset: str) -> dict[str, Any]:
    """The preset's model section with MMSA's modalities' encoders and a regression head."""
    section = load_preset(preset)
    section["encoders"] = {m: dict(SEQUENCE) for m in ("text", "audio", "vision")}
    section["head"] = {"name": "regression", "hidden_dim": 8}
    return section


@pytest.mark.parametrize("preset", ["mult", "tfn", "lmf", "mmbt"])
def test_each_preset_builds_and_predicts_one_score_per_clip(tmp_path: Path, preset: str) -> None:
    path = write_pickle(mmsa_data(), tmp_path / "unaligned_50.pkl")
    bundle = mmsa_dataset(seed=0, path=path, variant="mosi", trust_pickle=True)
    data = {"name": "mmsa", "path": str(path), "variant": "mosi", "trust_pickle": True}
    config = parse_config({"data": data, "model": _model(preset)})
    assert config.model is not None
    model = build_model(config.model, bundle.info).eval()
    samples = [bundle.splits["train"][i] for i in range(8)]  # vision missing for 3 of them
    with torch.no_grad():
        out = model(collate_samples(samples, bundle.info.modalities)).output
    assert out.shape == (8, 1)
    assert torch.isfinite(out).all()


def test_a_preset_trains_an_epoch_and_evaluates_with_the_sentiment_metrics(tmp_path) -> None:
    from polymodal.evaluate.run import EvaluationOptions, evaluate_run
    from polymodal.train.run import train

    path = write_pickle(mmsa_data(), tmp_path / "unaligned_50.pkl")
    config = parse_config(
        {
            "seed": 0,
            "data": {"name": "mmsa", "path": str(path), "variant": "mosi", "trust_pickle": True},
            "model": _model("tfn"),
            "train": {"max_epochs": 1, "batch_size": 4, "progress": False},
            "eval": {"metrics": SENTIMENT},
        }
    )
    run = tmp_path / "run"
    train(config, run)
    result = evaluate_run(run, options=EvaluationOptions(resamples=0))
    table = pd.read_parquet(run / "predictions.parquet")
    data = mmsa_data()["test"]
    assert list(table["id"]) == list(data["id"])
    target = table["target"].map(lambda v: float(v[0]) if hasattr(v, "__len__") else float(v))
    assert target.tolist() == pytest.approx(data["regression_labels"].astype(float).tolist())
    saved = json.loads((run / "metrics.json").read_text())["metrics"]
    assert set(SENTIMENT) <= set(saved)
    assert saved == pytest.approx(result.metrics, nan_ok=True)
    prediction = table["prediction"].map(lambda v: float(v[0]) if hasattr(v, "__len__") else v)
    mae = (prediction - target).abs().mean()
    assert saved["mae"] == pytest.approx(mae, rel=1e-5)


def test_the_mosi_config_keeps_the_mult_preset_and_builds_on_an_mmsa_file(tmp_path) -> None:
    from polymodal.config import load_config

    path = write_pickle(mmsa_data(), tmp_path / "unaligned_50.pkl")
    config_file = Path(__file__).resolve().parents[3] / "configs" / "mosi-mult.yaml"
    config = load_config(config_file, [f"data.path={path}"])
    preset = load_preset("mult")
    assert config.model is not None
    assert config.model.interaction is not None
    interaction = {"name": config.model.interaction.name, **config.model.interaction.params}
    assert interaction == preset["interaction"]
    assert {"name": "concat", **config.model.fusion.params} == preset["fusion"]
    assert set(SENTIMENT) <= set(config.eval.metrics or [])
    bundle = mmsa_dataset(seed=0, **{k: v for k, v in config.data.params.items()})
    model = build_model(config.model, bundle.info).eval()
    samples = [bundle.splits["test"][i] for i in range(4)]
    with torch.no_grad():
        assert model(collate_samples(samples, bundle.info.modalities)).output.shape == (4, 1)


def test_the_readme_mosi_commands_run_on_a_file_of_the_mmsa_layout(tmp_path) -> None:
    """``polymodal train configs/mosi-mult.yaml data.path=...`` then ``polymodal evaluate``, as
    the README's "Reproduce a MOSI result" section says (one epoch here)."""
    from typer.testing import CliRunner

    from polymodal.cli.main import app

    path = write_pickle(mmsa_data(), tmp_path / "unaligned_50.pkl")
    config_file = Path(__file__).resolve().parents[3] / "configs" / "mosi-mult.yaml"
    run = tmp_path / "runs" / "mosi-mult"
    runner = CliRunner()
    trained = runner.invoke(
        app,
        ["train", str(config_file), f"data.path={path}", "train.max_epochs=1", "--out", str(run)],
    )
    assert trained.exit_code == 0, trained.output
    evaluated = runner.invoke(app, ["evaluate", str(run)])
    assert evaluated.exit_code == 0, evaluated.output
    saved = json.loads((run / "metrics.json").read_text())["metrics"]
    assert set(SENTIMENT) | {"acc5"} <= set(saved)
    table = pd.read_parquet(run / "predictions.parquet")
    assert len(table[table["perturbation"] == "none"]) == len(mmsa_data()["test"]["id"])
