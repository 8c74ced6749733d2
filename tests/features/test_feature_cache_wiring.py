"""`train.feature_cache`: a frozen encoder's features are cached and training/evaluation on them
equals the run that encodes every step, bit for bit (images: fixed-size, batch-invariant)."""

import json
import logging

import pytest
import torch
from safetensors.torch import load_file

from polymodal.config import parse_config
from polymodal.encoders.hf import HFEncoder
from polymodal.evaluate.run import EvaluationOptions, evaluate_run
from polymodal.features import FeatureCache
from polymodal.rundir.load import load_trained
from polymodal.train.run import train

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def vit(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random ViT for the synthetic ``[1, 8, 8]`` images."""
    root = tmp_path_factory.mktemp("tiny_vit")
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=1,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    transformers.ViTModel(config, add_pooling_layer=False).save_pretrained(root)
    return str(root)


def config(vit: str, cache):
    return parse_config(
        {
            "seed": 3,
            "data": {"name": "synthetic", "task": "redundant", "n": 96, "image_size": 8},
            "model": {
                "encoders": {
                    "image": {"name": "hf", "checkpoint": vit, "train_mode": "frozen"},
                    "text": {"name": "text_gru"},
                },
                "fusion": "concat",
            },
            "train": {
                "max_epochs": 2,
                "batch_size": 16,
                "lr": 3e-3,
                "progress": False,
                "feature_cache": cache,
            },
        }
    )


def weights(run_dir):
    return load_file(run_dir / "checkpoint" / "model.safetensors")


def test_cached_training_and_evaluation_equal_the_uncached_run(vit, tmp_path, caplog):
    plain = train(config(vit, False), tmp_path / "plain")
    with caplog.at_level(logging.INFO, logger="polymodal"):
        cached = train(config(vit, True), tmp_path / "cached")
    assert "cached features for image; encoded every step: text" in caplog.text
    assert cached.metrics == plain.metrics
    wa, wb = weights(tmp_path / "plain"), weights(tmp_path / "cached")
    assert wa.keys() == wb.keys()  # the saved model is the normal model, frozen weights included
    assert any(k.startswith("encoders.image.backbone.") for k in wb)
    for key in wa:
        assert wa[key].equal(wb[key]), key
    _, _, model = load_trained(tmp_path / "cached")  # loads (strict) into the real model
    assert isinstance(model.encoders["image"], HFEncoder)
    entries = FeatureCache(tmp_path / "cached" / "feature_cache").entries()
    assert len(entries) == 1  # one frozen modality: image; text is trained
    assert entries[0]["splits"] == sorted(["train", "val", "test"])
    assert not (tmp_path / "plain" / "feature_cache").exists()

    options = EvaluationOptions(resamples=0)
    ev_plain = evaluate_run(tmp_path / "plain", options=options)
    ev_cached = evaluate_run(tmp_path / "cached", options=options)
    assert ev_cached.metrics == ev_plain.metrics
    assert ev_cached.table["scores"].tolist() == ev_plain.table["scores"].tolist()


def test_second_run_reuses_a_shared_cache_without_encoding(vit, tmp_path, monkeypatch):
    shared = tmp_path / "shared_cache"
    first = train(config(vit, str(shared)), tmp_path / "a")
    created = FeatureCache(shared).entries()
    assert len(created) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the frozen encoder ran although its features are cached")

    monkeypatch.setattr(HFEncoder, "forward", refuse)
    second = train(config(vit, str(shared)), tmp_path / "b")
    assert second.metrics == first.metrics
    assert FeatureCache(shared).entries() == created
    assert json.loads((tmp_path / "b" / "train_summary.json").read_text())["epochs"] == 2
    # the clean evaluation pass reads the cache too
    evaluate_run(tmp_path / "b", options=EvaluationOptions(resamples=0))


def pretrain_config(vit: str, cache):
    retrieval = {"name": "retrieval", "embed_dim": 8}
    return parse_config(
        {
            "seed": 1,
            "data": {"name": "synthetic", "task": "redundant", "n": 96, "image_size": 8},
            "pretrain": {
                "objective": {"name": "contrastive"},
                "towers": {
                    "image": {
                        "encoders": {"image": {"name": "hf", "checkpoint": vit}},
                        "head": retrieval,
                    },
                    "text": {"encoders": {"text": {"name": "text_gru"}}, "head": retrieval},
                },
            },
            "train": {
                "max_epochs": 2,
                "batch_size": 16,
                "lr": 3e-3,
                "progress": False,
                "feature_cache": cache,
            },
        }
    )


def test_pretraining_on_cached_features_equals_the_uncached_run(vit, tmp_path):
    plain = train(pretrain_config(vit, False), tmp_path / "plain")
    cached = train(pretrain_config(vit, True), tmp_path / "cached")
    assert cached.metrics == plain.metrics
    wa, wb = weights(tmp_path / "plain"), weights(tmp_path / "cached")
    assert wa.keys() == wb.keys()  # the towers' real keys, frozen ViT included
    assert any(k.startswith("towers.image.encoders.image.backbone.") for k in wb)
    for key in wa:
        assert wa[key].equal(wb[key]), key
    assert len(FeatureCache(tmp_path / "cached" / "feature_cache").entries()) == 1
    options = EvaluationOptions(resamples=0)
    assert (
        evaluate_run(tmp_path / "cached", options=options).metrics
        == evaluate_run(tmp_path / "plain", options=options).metrics
    )


def test_empty_splits_are_not_cached(vit, tmp_path):
    from polymodal.data.bundle import ListDataset
    from polymodal.data.loading import build_data
    from polymodal.features.training import cache_features
    from polymodal.models.builder import build_model

    experiment = config(vit, True)
    bundle = build_data(experiment.data, seed=3)
    bundle.splits["val"] = ListDataset([])  # e.g. val_fraction: 0
    model = build_model(experiment.model, bundle.info)
    found = cache_features(experiment, bundle, model, tmp_path, ["image"], batch_size=16)
    assert sorted(found) == ["test", "train"]
