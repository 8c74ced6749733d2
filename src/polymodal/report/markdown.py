"""Markdown report of one evaluated run, rendered from its ``metrics.json`` payload."""

from __future__ import annotations

from typing import Any

from polymodal.config import ExperimentConfig


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: fixed decimals for floats, ``-`` for missing values."""
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1000:
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return lines


def _component(spec: Any) -> str:
    return spec.name if spec is not None else "-"


def render_run_report(payload: dict[str, Any], config: ExperimentConfig | None) -> str:
    """The run's ``report.md``: setup, metrics with intervals, and each optional section.

    ``config`` is None for predictions made elsewhere (``polymodal evaluate FILE``).
    """
    lines = [
        f"# {payload['run']}",
        "",
        f"- dataset: `{payload['dataset']}`, split `{payload['split']}`, "
        f"{payload['num_samples']} samples, task {payload['task']}",
    ]
    if config is not None:
        model = config.model
        encoders = ", ".join(f"{k} (`{v.name}`)" for k, v in model.encoders.items())
        head = _component(model.head) if model.head else "default for the task"
        lines += [
            f"- encoders: {encoders}",
            f"- interaction: `{_component(model.interaction)}`, fusion: `{model.fusion.name}`, "
            f"head: `{head}`",
            f"- seed {config.seed}, {config.train.max_epochs} epochs max, "
            f"batch {config.train.batch_size}, lr {config.train.lr}",
        ]
    else:
        lines.append("- predictions made elsewhere, evaluated from the given table")
    lines += ["", "## Metrics", ""]
    intervals = payload.get("intervals", {})
    level = next(iter(intervals.values()))["level"] if intervals else None
    header = ["metric", "value"] + ([f"{level:.0%} CI (bootstrap)"] if level else [])
    rows = []
    for name, value in payload["metrics"].items():
        if not isinstance(value, (int, float)):
            continue
        row: list[Any] = [name, value]
        if level:
            ci = intervals.get(name)
            row.append(f"[{ci['low']:.4f}, {ci['high']:.4f}]" if ci else "-")
        rows.append(row)
    lines += _table(header, rows)
    plots = payload.get("plots", {})
    for key, title in (("confusion_matrix", "Confusion matrix"), ("reliability", "Calibration")):
        if key in plots:
            lines += ["", f"## {title}", "", f"![{title}]({plots[key]})"]
    if "robustness" in payload:
        rob = payload["robustness"]
        lines += ["", f"## Robustness ({rob['metric']})", ""]
        summary = rob["summary"]
        lines += _table(
            ["modality", "perturbation", "clean", "worst", "relative robustness"],
            [
                [r["modality"], r["kind"], r["clean"], r["worst"], r["relative_robustness"]]
                for r in summary
            ],
        )
        if "robustness" in plots:
            lines += ["", f"![Robustness curves]({plots['robustness']})"]
    if "contribution" in payload:
        con = payload["contribution"]
        lines += ["", f"## Modality contribution ({con['metric']})", ""]
        lines += _table(
            ["modality", "Shapley value", "leave-one-out"],
            [[r["modality"], r["shapley"], r["leave_one_out"]] for r in con["values"]],
        )
        if "contribution" in plots:
            lines += ["", f"![Modality contribution]({plots['contribution']})"]
    if "efficiency" in payload:
        eff = payload["efficiency"]
        lines += ["", "## Efficiency", ""]
        keys = [
            ("params_total", "parameters"),
            ("params_trainable", "trainable parameters"),
            ("flops_per_sample", "FLOPs per sample"),
            ("latency_ms_p50_bs1", "latency p50, batch 1 (ms)"),
            ("latency_ms_p95_bs1", "latency p95, batch 1 (ms)"),
            ("latency_ms_p50", f"latency p50, batch {eff.get('eval_batch_size')} (ms)"),
            ("latency_ms_p95", f"latency p95, batch {eff.get('eval_batch_size')} (ms)"),
            ("throughput_samples_per_s", "throughput (samples/s)"),
            ("peak_memory_bytes", "peak memory of a forward (bytes)"),
            ("training_seconds", "training time (s)"),
        ]
        lines += _table(["measure", "value"], [[label, eff.get(k)] for k, label in keys])
    return "\n".join(lines) + "\n"
