"""The report of one run: one list of blocks, rendered to report.md and report.html that carry
the same headings and numbers; the Markdown of `polymodal evaluate` is the same report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from polymodal.config import parse_config
from polymodal.report.plots import plot_confusion_matrix
from polymodal.report.run_report import render_run_report, run_blocks, write_run_report

CONFIG = """\
seed: 0
data: {name: synthetic, task: synergy, n: 400}
model:
  encoders: {image: cnn, audio: audio_conv}
  fusion: concat
train: {max_epochs: 5, batch_size: 64, lr: 0.001}
"""

PAYLOAD = {
    "run": "demo",
    "dataset": "synthetic",
    "split": "test",
    "num_samples": 80,
    "task": "multiclass",
    "primary_metric": "accuracy",
    "higher_is_better": True,
    "metrics": {"accuracy": 0.8125, "macro_f1": 0.75, "confusion": [[1, 2], [3, 4]]},
    "intervals": {"accuracy": {"low": 0.7, "high": 0.9, "level": 0.95}},
    "plots": {
        "confusion_matrix": "plots/confusion_matrix.png",
        "reliability": "plots/reliability.png",
        "robustness": "plots/robustness.png",
        "contribution": "plots/contribution.png",
    },
    "robustness": {
        "metric": "accuracy",
        "summary": [
            {
                "modality": "image",
                "kind": "drop",
                "clean": 0.8125,
                "worst": 0.5,
                "relative_robustness": 0.615,
            },
        ],
        "curves": [],
    },
    "contribution": {
        "metric": "accuracy",
        "values": [{"modality": "image", "shapley": 0.25, "leave_one_out": 0.3125}],
    },
    "efficiency": {
        "params_total": 1500,
        "params_trainable": 1200,
        "flops_per_sample": 40000.0,
        "eval_batch_size": 32,
        "latency_ms_p50_bs1": 2.5,
        "latency_ms_p95_bs1": 3.25,
        "latency_ms_p50": 7.0,
        "latency_ms_p95": 9.5,
        "throughput_samples_per_s": 4571.5,
        "peak_memory_bytes": None,
        "training_seconds": 12.25,
    },
}


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "env.json").write_text(json.dumps({"python": {"version": "3.11.7"}}))
    (tmp_path / "metrics.json").write_text(json.dumps(PAYLOAD))
    for name in PAYLOAD["plots"].values():
        plot_confusion_matrix(np.eye(2), ["a", "b"], tmp_path / name, size=(2, 2), dpi=30)
    return tmp_path


def test_markdown_and_html_of_a_run_carry_the_same_headings_and_numbers(run_dir, same_report):
    written = write_run_report(run_dir)
    markdown = written.markdown.read_text()
    page = written.html.read_text()
    headings, numbers = same_report(markdown, page)
    assert headings == [
        (1, "demo"),
        (2, "Metrics"),
        (2, "Confusion matrix"),
        (2, "Calibration"),
        (2, "Robustness (accuracy)"),
        (2, "Modality contribution (accuracy)"),
        (2, "Efficiency"),
        (2, "Config and environment"),
    ]
    for number in ("0.8125", "0.7000", "0.9000", "0.6150", "0.3125", "12.2500", "3.11"):
        assert number in numbers
    assert "| accuracy | 0.8125 | [0.7000, 0.9000] |" in markdown
    assert "| macro_f1 | 0.7500 | - |" in markdown
    assert "| parameters | 1,500 |" in markdown
    assert "| latency p50, batch 32 (ms) | 7.0000 |" in markdown
    assert "| peak memory of a forward (bytes) | - |" in markdown
    assert "![Confusion matrix](plots/confusion_matrix.png)" in markdown
    assert page.count('<img src="data:image/png;base64,') == 4


def test_evaluate_writes_the_same_markdown_without_the_run_folder(run_dir):
    config = parse_config(yaml.safe_load(CONFIG), source="config.yaml", check_components=False)
    full = render_run_report(PAYLOAD, config, run_dir)
    assert full == write_run_report(run_dir).markdown.read_text()
    without = render_run_report(PAYLOAD, config)  # what `polymodal evaluate` writes
    assert full.startswith(without.rstrip("\n") + "\n\n## Config and environment\n")
    assert "- encoders: image (`cnn`), audio (`audio_conv`)" in without
    assert "- seed 0, 5 epochs max, batch 64, lr 0.001" in without


def test_predictions_made_elsewhere_have_no_model_setup():
    blocks = run_blocks({**PAYLOAD, "plots": {}}, None)
    markdown = render_run_report({**PAYLOAD, "plots": {}}, None)
    assert "- predictions made elsewhere, evaluated from the given table" in markdown
    assert "encoders" not in markdown
    assert len(blocks) == 2 + 2 + 3 * 2  # title, setup, metrics, robustness, contribution, eff.
