"""Contrastive pretraining (`pretrain`), its retrieval evaluation and the two-stage recipe."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.config import parse_config
from polymodal.evaluate.run import evaluate_run
from polymodal.rundir.codec import load_weights
from polymodal.rundir.layout import PRETRAIN_DIR
from polymodal.train.pretrain import batch_positives
from polymodal.train.run import train

DIM = 6
MOCO = {"queue_size": 64, "momentum": 0.9}  # few steps: a faster-moving momentum encoder


def _pairs_manifest(tmp_path, n=240, seed=0):
    """Paired tabular views x and y = tanh(x A) + noise, and a label (sign of x_0): each y
    belongs to its own x, so a trained pair of towers retrieves far above chance."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM))
    y = np.tanh(x @ rng.normal(size=(DIM, DIM))) + 0.05 * rng.normal(size=(n, DIM))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(DIM)])
    for i in range(DIM):
        frame[f"y{i}"] = y[:, i]
    frame["label"] = np.where(x[:, 0] > 0, "pos", "neg")
    path = tmp_path / "pairs.csv"
    frame.to_csv(path, index=False)
    return path


def _tower(modality):
    return {
        "encoders": {modality: {"name": "mlp", "out_dim": 32, "hidden_dim": 32}},
        "fusion": "concat",
        "head": {"name": "retrieval", "embed_dim": 16},
    }


def _config(path, *, objective="contrastive", model=None, transfer=None, epochs=8):
    raw = {
        "seed": 0,
        "data": {
            "name": "manifest",
            "path": str(path),
            "modalities": {
                "x": {"kind": "tabular", "columns": [f"x{i}" for i in range(DIM)]},
                "y": {"kind": "tabular", "columns": [f"y{i}" for i in range(DIM)]},
            },
            "label": "label",
            "val_fraction": 0.15,
            "test_fraction": 0.25,
        },
        "pretrain": {
            "objective": {
                "name": objective,
                **({"queue_size": 64, "momentum": 0.9} if objective == "moco" else {}),
            },
            "towers": {"x": _tower("x"), "y": _tower("y")},
            "train": {"max_epochs": epochs, "batch_size": 32, "lr": 3e-3, "progress": False},
        },
        "train": {"max_epochs": 3, "batch_size": 32, "lr": 3e-3, "progress": False},
    }
    if transfer is not None:
        raw["pretrain"]["transfer"] = transfer
    if model is not None:
        raw["model"] = model
    return parse_config(raw)


def test_batch_positives_marks_shared_items():
    keys = {"image": {"a": "img1", "b": "img1", "c": "img2"}, "text": {}}
    same = batch_positives(["a", "b", "c"], keys, ["image", "text"])
    expected = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    assert torch.equal(same, expected)
    assert batch_positives(["a", "c"], keys, ["image", "text"]) is None  # all distinct


@pytest.mark.parametrize("objective", ["contrastive", "moco"])
def test_pretraining_retrieves_far_above_chance(tmp_path, objective):
    path = _pairs_manifest(tmp_path)
    run = tmp_path / "run"
    train(_config(path, objective=objective, epochs=10), run)
    metrics = evaluate_run(run).metrics
    for direction in ("x->y", "y->x"):
        chance = metrics[f"{direction}/chance_R@1"]
        assert chance == pytest.approx(1 / metrics[f"{direction}/gallery"])
        assert metrics[f"{direction}/R@1"] > 8 * chance, metrics
        assert metrics[f"{direction}/R@10"] >= metrics[f"{direction}/R@5"]
    report = (run / "report.md").read_text()
    assert "x → y" in report
    assert "chance R@1" in report
    payload = json.loads((run / "metrics.json").read_text())
    low, high = payload["intervals"]["x->y/R@1"]["low"], payload["intervals"]["x->y/R@1"]["high"]
    assert low <= metrics["x->y/R@1"] <= high


def test_pretraining_is_bit_identical_for_a_seed(tmp_path):
    path = _pairs_manifest(tmp_path)
    for name in ("a", "b"):
        train(_config(path, epochs=2), tmp_path / name)
    first = load_weights(tmp_path / "a" / "checkpoint" / "model.safetensors")
    second = load_weights(tmp_path / "b" / "checkpoint" / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(k.endswith("log_scale") for k in first)  # the learned temperature is saved


def _encoder_weights(state, prefix):
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def test_linear_probe_keeps_pretrained_encoders_and_uses_a_label_fraction(tmp_path):
    path = _pairs_manifest(tmp_path)
    model = {"head": {"name": "classification", "hidden_dim": None}}
    config = _config(
        path, model=model, transfer={"mode": "linear_probe", "label_fraction": 0.25}, epochs=2
    )
    assert set(config.model.encoders) == {"x", "y"}  # taken from the towers
    run = tmp_path / "run"
    result = train(config, run)
    tower = load_weights(run / PRETRAIN_DIR / "checkpoint" / "model.safetensors")
    final = load_weights(run / "checkpoint" / "model.safetensors")
    for m in ("x", "y"):
        pretrained = _encoder_weights(tower, f"towers.{m}.encoders.{m}.")
        probed = _encoder_weights(final, f"encoders.{m}.")
        assert pretrained
        assert pretrained.keys() == probed.keys()
        assert all(torch.equal(pretrained[k], probed[k]) for k in pretrained)  # frozen
    summary = json.loads((run / "train_summary.json").read_text())
    full = json.loads((run / PRETRAIN_DIR / "train_summary.json").read_text())["train_rows"]
    assert summary["train_rows"] == pytest.approx(full * 0.25, abs=2)  # stratified rounding
    assert result.metrics["val/accuracy"] > 0.5
    assert "accuracy" in evaluate_run(run).metrics  # stage 2 evaluates as a supervised run


def test_finetune_moves_encoders_and_resume_keeps_finished_pretraining(tmp_path):
    path = _pairs_manifest(tmp_path)
    model = {"head": {"name": "classification", "hidden_dim": None}}
    config = _config(path, model=model, transfer={"mode": "finetune"}, epochs=2)
    run = tmp_path / "run"
    train(config, run)
    tower = load_weights(run / PRETRAIN_DIR / "checkpoint" / "model.safetensors")
    final = load_weights(run / "checkpoint" / "model.safetensors")
    pretrained = _encoder_weights(tower, "towers.x.encoders.x.")
    tuned = _encoder_weights(final, "encoders.x.")
    assert any(not torch.equal(pretrained[k], tuned[k]) for k in pretrained)
    stage_one = run / PRETRAIN_DIR / "checkpoint" / "model.safetensors"
    before = stage_one.stat().st_mtime_ns
    train(config, run, resume=True)  # stage 1 is done: kept; stage 2 is done: nothing to do
    assert stage_one.stat().st_mtime_ns == before


def test_two_stage_refuses_an_encoder_that_differs_from_the_tower(tmp_path):
    from polymodal.errors import ConfigError

    path = _pairs_manifest(tmp_path, n=40)
    model = {"encoders": {"x": {"name": "mlp", "out_dim": 8}}}
    with pytest.raises(ConfigError, match=r"model\.encoders\.x differs"):
        _config(path, model=model)
