"""Tests of polymodal.evaluate.efficiency: parameters, FLOPs, latency, slicing, memory, time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from polymodal.config import ModelConfig
from polymodal.data.builtin.synthetic import synthetic
from polymodal.data.collate import collate_samples
from polymodal.data.schema import Batch, ModalitySpec, Sample
from polymodal.errors import PolymodalError
from polymodal.evaluate.efficiency import (
    EfficiencyError,
    count_flops,
    measure_efficiency,
    profiled_peak_bytes,
    slice_batch,
    training_seconds,
)
from polymodal.models.builder import build_model

SPECS = {
    "tab": ModalitySpec("tab", "tabular", (6,)),
    "image": ModalitySpec("image", "image", (2, 5, 5)),
    "audio": ModalitySpec("audio", "audio", (-1, 3)),
    "text": ModalitySpec("text", "text", (-1,), vocab_size=20, pad_id=0),
}


def _samples(n: int = 6) -> list[Sample]:
    gen = torch.Generator().manual_seed(0)
    lengths = [2, 3, 7, 1, 5, 4][:n]
    out = []
    for i, length in enumerate(lengths):
        inputs: dict[str, torch.Tensor | None] = {
            "tab": torch.randn(6, generator=gen),
            "image": torch.randn(2, 5, 5, generator=gen) if i != 1 else None,
            "audio": torch.randn(length, 3, generator=gen) if i != 0 else None,
            "text": torch.randint(1, 20, (length + 1,), generator=gen),
        }
        out.append(Sample(f"s{i}", inputs, torch.tensor(i % 3)))
    return out


def _batch(n: int = 6) -> Batch:
    return collate_samples(_samples(n), SPECS)


class TabularNet(nn.Module):
    """Linear(6, 4) -> ReLU -> Linear(4, 3) on the ``tab`` modality."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.net(batch.inputs["tab"].values)


class ConvNet(nn.Module):
    """Conv2d(2, 3, 3) without padding on the ``[2, 5, 5]`` image: ``[3, 3, 3]`` outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, kernel_size=3)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.conv(batch.inputs["image"].values)


class BigAllocation(nn.Module):
    """Allocates a 40 MB float32 tensor during its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, batch: Batch) -> torch.Tensor:
        big = torch.ones(10_000_000)  # 4e7 bytes
        return big.sum() * self.scale + batch.inputs["tab"].values.sum()


def test_parameter_counts_match_a_hand_count() -> None:
    model = TabularNet()
    model.net[0].requires_grad_(False)
    stats = measure_efficiency(model, _batch(), warmup=0, repeats=2)
    first, second = 6 * 4 + 4, 4 * 3 + 3
    assert stats["params_total"] == first + second == 43
    assert stats["params_trainable"] == second
    assert stats["parameter_bytes"] == 43 * 4


def test_flops_of_linear_layers_are_two_in_out_per_sample() -> None:
    stats = measure_efficiency(TabularNet(), _batch(), eval_batch_size=4, warmup=0, repeats=2)
    assert stats["flops_per_sample"] == 2 * 6 * 4 + 2 * 4 * 3
    assert stats["eval_batch_size"] == 4


def test_flops_of_a_convolution_by_hand() -> None:
    batch = slice_batch(_batch(), 5)
    per_output = 2 * 2 * 3 * 3  # 2 FLOPs per multiply-add over C_in * k * k
    outputs = 3 * 3 * 3  # C_out * H_out * W_out
    assert count_flops(ConvNet(), batch) == 5 * per_output * outputs


def test_latency_fields_are_positive_and_ordered() -> None:
    model = TabularNet().train()
    stats = measure_efficiency(model, _batch(), warmup=1, repeats=7)
    for key in ("latency_ms_p50_bs1", "latency_ms_p95_bs1", "latency_ms_p50", "latency_ms_p95"):
        assert stats[key] > 0, key
    assert stats["latency_ms_p95_bs1"] >= stats["latency_ms_p50_bs1"]
    assert stats["latency_ms_p95"] >= stats["latency_ms_p50"]
    assert stats["throughput_samples_per_s"] > 0
    assert model.training  # the mode is given back
    json.dumps(stats)  # serialisable as it is


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_slice_batch_equals_collating_the_first_samples(n: int) -> None:
    sliced = slice_batch(_batch(), n)
    alone = collate_samples(_samples()[:n], SPECS)
    assert sliced.ids == alone.ids
    assert torch.equal(sliced.target, alone.target)
    for name in SPECS:
        got, want = sliced.inputs[name], alone.inputs[name]
        assert torch.equal(got.values, want.values), name
        assert torch.equal(got.present, want.present), name
        if want.padding_mask is None:
            assert got.padding_mask is None
        else:
            assert torch.equal(got.padding_mask, want.padding_mask), name


@pytest.mark.parametrize("n", [0, 7])
def test_slice_batch_rejects_sizes_out_of_range(n: int) -> None:
    with pytest.raises(EfficiencyError, match="1 to 6"):
        slice_batch(_batch(), n)


def test_peak_memory_sees_a_big_allocation_in_the_forward() -> None:
    stats = measure_efficiency(BigAllocation(), _batch(), warmup=0, repeats=1)
    assert stats["peak_memory_method"].startswith("torch.profiler")
    assert 4e7 <= stats["peak_memory_bytes"] < 4e7 + 1e6
    small = measure_efficiency(TabularNet(), _batch(), warmup=0, repeats=1)
    assert 0 < small["peak_memory_bytes"] < 1e5


def test_profiled_peak_counts_what_is_alive_at_once() -> None:
    def two_in_turn() -> None:
        for _ in range(2):
            torch.ones(1_000_000).sum()  # 4e6 bytes, freed before the next

    def two_together() -> None:
        a, b = torch.ones(1_000_000), torch.ones(1_000_000)
        (a + b).sum()  # a, b and a + b: 1.2e7 bytes alive at once

    assert 4e6 <= profiled_peak_bytes(two_in_turn) < 4e6 + 1e4
    assert 1.2e7 <= profiled_peak_bytes(two_together) < 1.2e7 + 1e4


def test_peak_memory_is_none_when_another_profiler_runs() -> None:
    with torch.autograd.profiler.profile():
        stats = measure_efficiency(TabularNet(), _batch(), warmup=0, repeats=1)
    assert stats["peak_memory_bytes"] is None
    assert "profiler" in stats["peak_memory_method"]


def test_model_on_another_device_is_an_error() -> None:
    with pytest.raises(EfficiencyError, match=r"model.to\('cuda'\)"):
        measure_efficiency(TabularNet(), _batch(), device="cuda")


def test_built_model_on_synthetic_data() -> None:
    bundle = synthetic(seed=0, n=40)  # direct: the DATASETS registry would import every dataset
    cfg = ModelConfig.model_validate({"encoders": {"image": "cnn", "text": "text_gru"}})
    model = build_model(cfg, bundle.info)
    used = {m: bundle.info.modalities[m] for m in ("image", "text")}
    batch = collate_samples([bundle.splits["train"][i] for i in range(8)], used)
    stats = measure_efficiency(model, batch, eval_batch_size=4, warmup=0, repeats=2)
    assert stats["flops_per_sample"] == count_flops(model.eval(), slice_batch(batch, 4)) / 4
    assert stats["flops_per_sample"] > 0
    assert stats["params_total"] == sum(p.numel() for p in model.parameters())


def test_training_seconds_reads_the_run_summary(tmp_path: Path) -> None:
    (tmp_path / "train_summary.json").write_text(json.dumps({"train_seconds": 12.5, "epochs": 3}))
    assert training_seconds(tmp_path) == 12.5


def test_training_seconds_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(PolymodalError, match="has not finished training"):
        training_seconds(tmp_path)
    (tmp_path / "train_summary.json").write_text(json.dumps({"epochs": 3}))
    with pytest.raises(PolymodalError, match="train_seconds"):
        training_seconds(tmp_path)
    (tmp_path / "train_summary.json").write_text("{not json")
    with pytest.raises(PolymodalError, match="invalid JSON"):
        training_seconds(tmp_path)


def test_training_seconds_of_a_two_stage_run_counts_both_stages(tmp_path: Path) -> None:
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "train_summary.json").write_text(json.dumps({"train_seconds": 12.5}))
    (tmp_path / "pretrain" / "train_summary.json").write_text(json.dumps({"train_seconds": 30.0}))
    assert training_seconds(tmp_path) == 42.5
