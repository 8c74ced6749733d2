"""polymodal.rundir on a real run: the layout names every file a train + evaluate run writes,
and loading the run back (config, data, best weights, split) predicts exactly what was written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from polymodal.config import config_to_dict, parse_config
from polymodal.data.loading import make_dataloader
from polymodal.errors import CheckpointError, PolymodalError
from polymodal.evaluate.predict import predict_table
from polymodal.evaluate.run import EvaluationOptions, evaluate_run
from polymodal.rundir import layout
from polymodal.rundir.codec import checkpoint_files, checkpoint_stem, load_weights
from polymodal.rundir.load import (
    evaluation_split,
    load_best_weights,
    load_pretrain_objective,
    load_run_config,
    load_run_data,
    load_trained,
    split_dataset,
)
from polymodal.train.run import train

RAW = {
    "seed": 5,
    "data": {"name": "synthetic", "task": "redundant", "n": 120},
    "model": {
        "encoders": {
            "image": {"name": "cnn", "out_dim": 8, "channels": 8},
            "text": {"name": "text_gru", "out_dim": 8, "embed_dim": 8, "hidden_dim": 8},
        },
        "fusion": "concat",
    },
    "train": {"max_epochs": 2, "batch_size": 16, "lr": 0.01, "progress": False},
    "eval": {"batch_size": 8},
}


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A trained run, and the files it held right after training (before any evaluation)."""
    path = tmp_path_factory.mktemp("rundir") / "run"
    train(parse_config(RAW), path)
    return path, _files(path)


@pytest.fixture
def run_dir(trained_run: tuple[Path, set[str]]) -> Path:
    return trained_run[0]


def test_layout_names_every_file_of_a_trained_and_evaluated_run(
    trained_run: tuple[Path, set[str]],
) -> None:
    run_dir, after_training = trained_run
    ckpt = layout.checkpoint_dir(run_dir).relative_to(run_dir).as_posix()
    last = [p.name for p in checkpoint_files(checkpoint_stem(layout.last_checkpoint(run_dir)))]
    trained = {
        layout.CONFIG_FILE,
        layout.ENV_FILE,
        layout.SKIPPED_FILE,
        layout.TRAIN_SUMMARY_FILE,
        f"{ckpt}/{layout.WEIGHTS_FILE}",
        f"{ckpt}/{layout.WEIGHTS_INFO_FILE}",
        f"{ckpt}/{layout.DATA_STATE_FILE}",
        *(f"{ckpt}/{name}" for name in last),
        layout.history_path(run_dir).relative_to(run_dir).as_posix(),
    }
    assert after_training == trained
    assert layout.last_tensors(run_dir).is_file()
    assert layout.weights_path(run_dir) == run_dir / "checkpoint" / "model.safetensors"

    result = evaluate_run(run_dir, options=EvaluationOptions(resamples=0))
    plots = {key: f"{layout.PLOTS_DIR}/{name}" for key, name in layout.PLOT_FILES.items()}
    confusion, reliability = plots["confusion_matrix"], plots["reliability"]
    evaluated = {layout.PREDICTIONS_FILE, layout.METRICS_FILE, layout.REPORT_FILE}
    assert _files(run_dir) == trained | evaluated | {confusion, reliability}
    # metrics.json points at its figures by the layout's names
    assert result.payload["plots"] == {"confusion_matrix": confusion, "reliability": reliability}
    saved = json.loads((run_dir / layout.METRICS_FILE).read_text())
    assert saved["plots"] == result.payload["plots"]


def test_loading_a_run_back_predicts_exactly_the_written_table(run_dir: Path) -> None:
    evaluate_run(run_dir, options=EvaluationOptions(resamples=0))
    written = pd.read_parquet(run_dir / layout.PREDICTIONS_FILE)

    config, bundle, model = load_trained(run_dir)
    assert config == parse_config(RAW)
    assert not model.training
    split, dataset = evaluation_split(config, bundle, None, run_dir)
    assert split == config.eval.split == "test"
    used = {m: bundle.info.modalities[m] for m in config.model.encoders}
    loader = make_dataloader(dataset, used, batch_size=config.eval.batch_size)
    again = predict_table(model, loader, bundle.info.task)

    assert list(again["id"]) == list(written["id"])
    assert list(again["target"]) == list(written["target"])
    assert list(again["prediction"]) == list(written["prediction"])
    assert [list(s) for s in again["scores"]] == [list(s) for s in written["scores"]]  # exact
    # the weights are those of the file, not a fresh initialisation
    on_disk = load_weights(layout.weights_path(run_dir))
    for name, tensor in model.state_dict().items():
        assert tensor.equal(on_disk[name]), name


def test_load_run_data_reuses_the_saved_preprocessing_state(run_dir: Path) -> None:
    config = load_run_config(run_dir)
    saved = yaml.safe_load(layout.config_path(run_dir).read_text())
    assert config_to_dict(config) == saved
    bundle = load_run_data(run_dir, config)
    state = json.loads(layout.data_state_path(run_dir).read_text())
    assert bundle.state == state
    assert split_dataset(bundle, "val", run_dir) is bundle.splits["val"]
    name, dataset = evaluation_split(config, bundle, "train", run_dir)
    assert name == "train"
    assert dataset is bundle.splits["train"]


def test_loading_errors_say_what_is_missing(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PolymodalError, match=r"no config\.yaml"):
        load_run_config(tmp_path)
    config = load_run_config(run_dir)
    bundle = load_run_data(run_dir, config)
    with pytest.raises(PolymodalError, match="no split 'dev'") as info:
        split_dataset(bundle, "dev", run_dir)
    assert "test, train, val" in str(info.value)
    _, _, model = load_trained(run_dir)
    with pytest.raises(CheckpointError, match="no trained weights"):
        load_best_weights(model, tmp_path)
    with pytest.raises(CheckpointError, match="not a pretraining run"):
        load_pretrain_objective(run_dir, bundle.info)
