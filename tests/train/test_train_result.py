"""What train() gives back and records: best validation metrics, per-epoch seconds, the
no-validation rule logged once, and no Lightning chatter on the console."""

from __future__ import annotations

import json
import logging

from polymodal.config import parse_config
from polymodal.train.run import train


def _config(**data):
    return parse_config(
        {
            "seed": 3,
            "data": {"name": "synthetic", "task": "redundant", "n": 120} | data,
            "model": {"encoders": {"image": {"name": "cnn", "out_dim": 8, "channels": 4}}},
            "train": {"max_epochs": 3, "batch_size": 32, "lr": 3e-3, "progress": False},
        }
    )


def _rows(run_dir):
    return [json.loads(x) for x in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]


def test_result_holds_best_validation_metrics_and_epoch_seconds(tmp_path, capfd):
    result = train(_config(), tmp_path / "run")
    rows = _rows(tmp_path / "run")
    best = min(rows, key=lambda r: r["val/loss"])  # monitor val/loss, mode min
    assert result.run_dir == tmp_path / "run"
    assert result.best_epoch == best["epoch"]
    assert result.best_metrics == {k: v for k, v in best.items() if k.startswith("val/")}
    assert set(result.best_metrics) == {"val/loss", "val/accuracy"}
    assert result.metrics["val/loss"] == rows[-1]["val/loss"]  # the last epoch's
    seconds = [r["epoch_seconds"] for r in rows]
    assert all(s > 0 for s in seconds)
    assert sum(seconds) <= result.train_seconds  # epochs are inside fit()
    out, err = capfd.readouterr()
    for noise in ("GPU available", "TPU available", "Tip:", "litlogger", "LeafSpec"):
        assert noise not in out + err


def test_without_validation_the_rule_is_logged_once(tmp_path, capfd, caplog):
    levels = {n: logging.getLogger(n).level for n in ("lightning.pytorch", "lightning.fabric")}
    logger = logging.getLogger("polymodal")
    logger.addHandler(caplog.handler)  # the CLI's set-up may have stopped propagation
    try:
        with caplog.at_level(logging.INFO, logger="polymodal"):
            result = train(_config(val_fraction=0.0), tmp_path / "run")
    finally:
        logger.removeHandler(caplog.handler)
    told = [r.getMessage() for r in caplog.records if "last epoch's weights" in r.getMessage()]
    assert len(told) == 1  # three epochs, one message
    assert "val/loss" in told[0]
    assert result.best_metrics == {}
    assert result.best_epoch is None
    model = json.loads((tmp_path / "run" / "checkpoint" / "model.json").read_text())
    assert model["epoch"] == 2  # the last epoch's weights are the model
    _, err = capfd.readouterr()
    assert "val_dataloader" not in err  # Lightning's own warning about it is not shown
    # train() leaves Lightning's loggers as it found them
    assert levels == {n: logging.getLogger(n).level for n in levels}
