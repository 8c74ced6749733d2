"""Names and units of the efficiency measures, for every report and the leaderboard.

The keys are those of the ``efficiency`` section of a run's ``metrics.json``
(:func:`polymodal.evaluate.efficiency.measure_efficiency`, plus ``training_seconds``). Every
table that shows an efficiency measure takes its label from here, so a unit is written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """One efficiency measure.

    Attributes:
        key: its key in ``metrics.json``'s ``efficiency``.
        label: the label of a report, with the unit in brackets; ``{batch}`` stands for the
            evaluation batch size.
        short: the header of a leaderboard column.
    """

    key: str
    label: str
    short: str

    def text(self, batch: object = None) -> str:
        """The label, with the evaluation batch size filled in."""
        return self.label.format(batch=batch)


EFFICIENCY_MEASURES: tuple[Measure, ...] = (
    Measure("params_total", "parameters", "params"),
    Measure("params_trainable", "trainable parameters", "trainable params"),
    Measure("flops_per_sample", "FLOPs per sample", "FLOPs/sample"),
    Measure("latency_ms_p50_bs1", "latency p50, batch 1 (ms)", "latency p50 bs1 (ms)"),
    Measure("latency_ms_p95_bs1", "latency p95, batch 1 (ms)", "latency p95 bs1 (ms)"),
    Measure("latency_ms_p50", "latency p50, batch {batch} (ms)", "latency p50 (ms)"),
    Measure("latency_ms_p95", "latency p95, batch {batch} (ms)", "latency p95 (ms)"),
    Measure("throughput_samples_per_s", "throughput (samples/s)", "throughput (samples/s)"),
    Measure("peak_memory_bytes", "peak memory of a forward (bytes)", "peak memory (bytes)"),
    Measure("training_seconds", "training time (s)", "train (s)"),
)
"""Every measure, in the order reports list them."""

EFFICIENCY: dict[str, Measure] = {m.key: m for m in EFFICIENCY_MEASURES}
"""The measures by key."""
