"""Efficiency of a model: parameters, FLOPs, latency, throughput, peak memory, training time.

Every number is measured on one example :class:`~polymodal.data.schema.Batch` of the evaluated
data, in eval mode under ``torch.no_grad``:

- **parameters**: total and trainable counts (:func:`~polymodal.models.builder.count_parameters`).
- **FLOPs per sample**: one forward at the evaluation batch size under torch's own counter
  (:class:`torch.utils.flop_counter.FlopCounterMode`), divided by the batch size. The counter
  counts the FLOPs of the operators torch has a formula for (matrix products, convolutions,
  attention, ...; a multiply-add is 2 FLOPs, so a ``Linear(i, o)`` costs ``2 * i * o`` per row)
  and counts element-wise operations, normalisation, pooling and bias additions as 0. Padded
  positions of sequences count, as they are computed.
- **latency**: p50 / p95 in milliseconds of ``repeats`` timed forwards (after ``warmup``
  untimed ones), at batch size 1 and at the evaluation batch size; on CUDA each forward is
  bracketed by ``torch.cuda.synchronize``.
- **throughput**: samples per second at the evaluation batch size, ``B * repeats`` over the
  summed time of the timed forwards.
- **peak memory**: the largest amount of memory allocated *during* one forward at the
  evaluation batch size beyond what was allocated before it (activations, workspaces and the
  output; not the parameters or the inputs, whose size is ``parameter_bytes`` and the batch).
  On CUDA: ``torch.cuda.max_memory_allocated`` after ``torch.cuda.reset_peak_memory_stats``,
  minus ``torch.cuda.memory_allocated`` before the forward. On CPU: torch's profiler with
  ``profile_memory=True`` records every allocation and free of torch's CPU allocator in order;
  the peak is the largest running sum of their sizes. ``tracemalloc`` does not see torch's
  allocator at all (it reports ~0 bytes for a 40 MB tensor) and the process RSS mixes in
  allocator caching and other threads, so neither is used. Memory allocated outside torch's
  allocator (e.g. oneDNN scratch buffers) is not counted. When no reliable method is available
  (another profiler already running, another device type) the field is None and
  ``peak_memory_method`` says why, rather than a wrong number.
- **training time**: :func:`training_seconds` reads ``train_seconds`` from a run's
  ``train_summary.json`` (both stages' for a two-stage run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from polymodal.console import filtered_native_stderr
from polymodal.data.schema import Batch, ModalityBatch
from polymodal.errors import PolymodalError
from polymodal.models.builder import count_parameters
from polymodal.rundir.layout import TRAIN_SUMMARY_FILE, pretrain_dir

TRAIN_SUMMARY = TRAIN_SUMMARY_FILE


class EfficiencyError(PolymodalError, ValueError):
    """An efficiency measurement cannot be made as asked."""


def _slice_modality(part: ModalityBatch, n: int) -> ModalityBatch:
    """The first ``n`` samples of one modality, sequences cut to the longest kept sample."""
    values = part.values[:n]
    present = part.present[:n]
    if part.padding_mask is None:
        return ModalityBatch(values, present)
    mask = part.padding_mask[:n]  # [n, T], True = padding
    used = (~mask).any(dim=0).nonzero()  # positions holding data in some kept sample
    length = int(used.max()) + 1 if used.numel() else 1
    return ModalityBatch(values[:, :length], present, mask[:, :length])  # [n, T'] with T' <= T


def slice_batch(batch: Batch, n: int) -> Batch:
    """The first ``n`` samples of ``batch``, as :func:`~polymodal.data.collate.collate_samples`
    would collate them on their own.

    ids, targets, ``present [n]``, values and ``padding_mask [n, T']`` are cut together; padded
    sequences are cut to ``T'``, the last position that holds data (or the one kept position of
    a missing sample) in some of the ``n`` samples, so a slice is no longer than its own batch.

    Raises:
        EfficiencyError: ``n`` is not in ``1 .. len(batch)``.
    """
    if not 1 <= n <= len(batch):
        raise EfficiencyError(
            f"cannot take {n} samples of a batch of {len(batch)}",
            where="slice_batch",
            fix=f"ask for 1 to {len(batch)} samples, or pass a bigger batch",
        )
    return Batch(
        list(batch.ids[:n]),
        {name: _slice_modality(part, n) for name, part in batch.inputs.items()},
        None if batch.target is None else batch.target[:n],
    )


def _is_cuda(device: torch.device) -> bool:
    return device.type == "cuda"


def _synchronize(device: torch.device) -> None:
    if _is_cuda(device):
        torch.cuda.synchronize(device)


def _check_device(model: nn.Module, device: torch.device) -> None:
    wrong = {str(p.device) for p in model.parameters() if p.device.type != device.type}
    if wrong:
        raise EfficiencyError(
            f"the model's parameters are on {sorted(wrong)}, not on {device}",
            where="measure_efficiency",
            fix=f"move the model first: model.to({str(device)!r})",
        )


def count_flops(model: nn.Module, batch: Batch) -> int:
    """Total FLOPs of one forward of ``model`` on ``batch``, as torch's
    :class:`~torch.utils.flop_counter.FlopCounterMode` counts them (see the module docstring)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(batch)
    return int(counter.get_total_flops())


def time_forward(
    model: nn.Module, batch: Batch, *, warmup: int, repeats: int, device: torch.device
) -> np.ndarray:
    """Seconds of ``repeats`` forwards ``[repeats]``, after ``warmup`` untimed ones."""
    with torch.no_grad():
        for _ in range(warmup):
            model(batch)
        _synchronize(device)
        seconds = np.empty(repeats)
        for i in range(repeats):
            start = time.perf_counter()
            model(batch)
            _synchronize(device)
            seconds[i] = time.perf_counter() - start
    return seconds


def _cuda_peak(model: nn.Module, batch: Batch, device: torch.device) -> int:
    _synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with torch.no_grad():
        model(batch)
    _synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - before)


def profiled_peak_bytes(run: Callable[[], Any]) -> int:
    """Peak bytes allocated by torch's CPU allocator while ``run()`` runs, above the start.

    The profiler (``profile_memory=True``) records one ``[memory]`` event per allocation
    (positive size) and free (negative size); the peak is the largest running sum, in event
    order. Frees of memory allocated before ``run`` lower the sum below 0; the result is at
    least 0.
    """
    from torch.profiler import ProfilerActivity, profile

    # the profiler logs its start and stop (``USDT: ... profiler_start``) straight to fd 2
    with (
        filtered_native_stderr(),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        run()
    events = [
        e
        for e in prof.profiler.kineto_results.events()  # type: ignore[union-attr]
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    ]
    events.sort(key=lambda e: e.start_ns())  # stable: equal times keep the recorded order
    sizes = np.array([e.nbytes() for e in events], dtype=np.int64)
    return int(max(0, np.cumsum(sizes).max())) if len(sizes) else 0


def _peak_memory(model: nn.Module, batch: Batch, device: torch.device) -> tuple[int | None, str]:
    """(peak bytes or None, the method used or why there is none)."""
    if _is_cuda(device):
        return _cuda_peak(model, batch, device), "cuda max_memory_allocated"
    if device.type != "cpu":
        return None, f"no reliable peak-memory method for device type {device.type!r}"
    if torch.autograd._profiler_enabled():
        return None, "another torch profiler is running; the CPU method needs the profiler"

    def forward() -> None:
        with torch.no_grad():
            model(batch)

    return profiled_peak_bytes(forward), "torch.profiler CPU allocator events"


def _latency(seconds: np.ndarray) -> tuple[float, float]:
    """(p50, p95) in milliseconds (numpy's linear-interpolation percentiles)."""
    p50, p95 = np.percentile(seconds * 1000.0, [50, 95])
    return float(p50), float(p95)


def measure_efficiency(
    model: nn.Module,
    batch: Batch,
    *,
    eval_batch_size: int | None = None,
    warmup: int = 3,
    repeats: int = 20,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Measure the efficiency of ``model`` on an example batch (see the module docstring).

    The model must already be on ``device``; the batch is moved there. The model is put in eval
    mode for the measurement and given back in the mode it had.

    Args:
        model: a module whose ``forward`` takes a :class:`Batch`.
        batch: example batch of the evaluated data, at least ``eval_batch_size`` samples.
        eval_batch_size: the evaluation batch size B (default: the whole batch).
        warmup: untimed forwards before each timing.
        repeats: timed forwards at each batch size (at least 1).
        device: where to run.

    Returns:
        A JSON-serialisable dict: ``params_total``, ``params_trainable``, ``parameter_bytes``
        (parameters and buffers), ``flops_per_sample``, ``eval_batch_size``,
        ``latency_ms_p50_bs1``, ``latency_ms_p95_bs1``, ``latency_ms_p50``, ``latency_ms_p95``
        (at B), ``throughput_samples_per_s`` (at B), ``peak_memory_bytes`` (int or None),
        ``peak_memory_method``, ``device``, ``warmup``, ``repeats``.

    Raises:
        EfficiencyError: the model is on another device, ``repeats`` < 1, ``warmup`` < 0, or
            the batch has fewer than ``eval_batch_size`` samples.
    """
    device = torch.device(device)
    _check_arguments(model, device, warmup, repeats)
    size = len(batch) if eval_batch_size is None else eval_batch_size
    full = slice_batch(batch, size).to(device)
    single = slice_batch(batch, 1).to(device)
    was_training = model.training
    model.eval()
    try:
        flops = count_flops(model, full)
        times_one = time_forward(model, single, warmup=warmup, repeats=repeats, device=device)
        times_full = time_forward(model, full, warmup=warmup, repeats=repeats, device=device)
        peak, method = _peak_memory(model, full, device)
    finally:
        model.train(was_training)
    return {
        **_parameters(model),
        "flops_per_sample": flops / size,
        "eval_batch_size": size,
        **_timings(times_one, times_full, size),
        "peak_memory_bytes": peak,
        "peak_memory_method": method,
        "device": str(device),
        "warmup": warmup,
        "repeats": repeats,
    }


def _check_arguments(model: nn.Module, device: torch.device, warmup: int, repeats: int) -> None:
    if repeats < 1 or warmup < 0:
        raise EfficiencyError(
            f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}",
            where="measure_efficiency",
        )
    _check_device(model, device)


def _parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts, and the bytes of parameters and buffers."""
    tensors = [*model.parameters(), *model.buffers()]
    return {
        "params_total": count_parameters(model),
        "params_trainable": count_parameters(model, trainable_only=True),
        "parameter_bytes": int(sum(t.numel() * t.element_size() for t in tensors)),
    }


def _timings(times_one: np.ndarray, times_full: np.ndarray, size: int) -> dict[str, float]:
    """Latency percentiles at batch 1 and at ``size``, and throughput at ``size``, from the
    seconds of timed forwards ``[repeats]``."""
    p50_one, p95_one = _latency(times_one)
    p50, p95 = _latency(times_full)
    return {
        "latency_ms_p50_bs1": p50_one,
        "latency_ms_p95_bs1": p95_one,
        "latency_ms_p50": p50,
        "latency_ms_p95": p95,
        "throughput_samples_per_s": float(size * len(times_full) / times_full.sum()),
    }


def training_seconds(run_dir: str | Path) -> float:
    """Wall-clock training time of a run: ``train_seconds`` of its ``train_summary.json``, plus
    that of its pretraining stage (``pretrain/``) for a two-stage run.

    Raises:
        PolymodalError: the file is missing, unreadable, or has no number ``train_seconds``.
    """
    stage_one = pretrain_dir(run_dir)
    before = _stage_seconds(stage_one) if (stage_one / TRAIN_SUMMARY).is_file() else 0.0
    return before + _stage_seconds(Path(run_dir))


def _stage_seconds(run_dir: Path) -> float:
    """``train_seconds`` of one run directory's ``train_summary.json``."""
    path = run_dir / TRAIN_SUMMARY
    if not path.is_file():
        raise PolymodalError(
            f"no {TRAIN_SUMMARY}: the run has not finished training",
            where=str(run_dir),
            fix="train the run first (polymodal train CONFIG.yaml --out RUN_DIR)",
        )
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PolymodalError(
            f"invalid JSON ({err.msg}, line {err.lineno})",
            where=str(path),
            fix="retrain the run to rewrite it",
        ) from err
    value = summary.get("train_seconds") if isinstance(summary, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolymodalError(
            f"no number 'train_seconds' (got {value!r})",
            where=str(path),
            fix="retrain the run with this version of polymodal to record it",
        )
    return float(value)
