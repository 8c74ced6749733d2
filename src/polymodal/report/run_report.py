"""The report of one evaluated run, as blocks, from its ``metrics.json`` payload.

:func:`run_blocks` is the one description of a run's report: setup, metrics with intervals,
plots, robustness, modality contribution, efficiency and (for a run directory) the run's
``config.yaml`` and ``env.json``. ``polymodal evaluate`` writes its Markdown
(:func:`render_run_report`); ``polymodal report RUN_DIR`` writes Markdown and HTML of the same
blocks (:func:`write_run_report`). Pieces shared with the benchmark report (metrics table, plots
of a run, config and environment) are public here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from polymodal.config import ExperimentConfig
from polymodal.errors import PolymodalError
from polymodal.report.blocks import (
    Block,
    BulletList,
    Code,
    Details,
    Heading,
    Image,
    Paragraph,
    Table,
    table,
)
from polymodal.report.files import WrittenReport, write_report_files
from polymodal.report.labels import EFFICIENCY_MEASURES
from polymodal.report.markdown import fmt, render_markdown

RUN_PLOTS = (
    ("confusion_matrix", "Confusion matrix"),
    ("reliability", "Reliability diagram"),
    ("robustness", "Robustness curves"),
    ("contribution", "Modality contribution"),
)
"""Key of a plot in ``metrics.json``'s ``plots``, and its title."""


def interval_text(interval: dict[str, float] | None) -> str:
    """``[low, high]`` of a bootstrap interval, or ``-``."""
    return "-" if not interval else f"[{interval['low']:.4f}, {interval['high']:.4f}]"


def metrics_table(payload: dict[str, Any]) -> Table:
    """Every scalar metric of a run, with its bootstrap interval when the run has intervals."""
    intervals = payload.get("intervals") or {}
    level = next(iter(intervals.values()))["level"] if intervals else None
    header = ["metric", "value"] + ([f"{level:.0%} CI (bootstrap)"] if level else [])
    rows = []
    for name, value in (payload.get("metrics") or {}).items():
        if isinstance(value, (int, float)):
            row = [name, fmt(value)]
            if level:
                row.append(interval_text(intervals.get(name)))
            rows.append(row)
    return table(header, rows)


def _plot(payload: dict[str, Any], key: str, base: Path, check: bool) -> Path | None:
    name = (payload.get("plots") or {}).get(key)
    path = base / name if name else None
    return path if path is not None and (not check or path.is_file()) else None


def run_images(payload: dict[str, Any], run_dir: Path, prefix: str = "") -> list[Image]:
    """The plots of a run whose files exist, captioned ``prefix`` + title."""
    out = []
    for key, title in RUN_PLOTS:
        path = _plot(payload, key, run_dir, check=True)
        if path is not None:
            out.append(Image(path, f"{prefix}{title}", f"{prefix}{title}"))
    return out


def _read_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def config_and_env(run_dir: Path, label: str) -> Details | None:
    """``config.yaml`` and ``env.json`` of a run, collapsed (None when it has neither)."""
    blocks: list[Block] = []
    config = _read_text(run_dir / "config.yaml")
    if config is not None:
        blocks += [Paragraph("`config.yaml`"), Code(config, "yaml")]
    env = _read_text(run_dir / "env.json")
    if env is not None:
        blocks += [Paragraph("`env.json`"), Code(env, "json")]
    return Details(f"{label}: config and environment", tuple(blocks)) if blocks else None


def _setup(payload: dict[str, Any], config: ExperimentConfig | None) -> BulletList:
    items = [
        f"dataset: `{payload.get('dataset')}`, split `{payload.get('split')}`, "
        f"{payload.get('num_samples')} samples, task {payload.get('task')}"
    ]
    if config is not None:
        model = config.model
        encoders = ", ".join(f"{k} (`{v.name}`)" for k, v in model.encoders.items())
        head = model.head.name if model.head else "default for the task"
        interaction = model.interaction.name if model.interaction is not None else "-"
        items += [
            f"encoders: {encoders}",
            f"interaction: `{interaction}`, fusion: `{model.fusion.name}`, head: `{head}`",
            f"seed {config.seed}, {config.train.max_epochs} epochs max, "
            f"batch {config.train.batch_size}, lr {config.train.lr}",
        ]
    else:
        items.append("predictions made elsewhere, evaluated from the given table")
    if payload.get("primary_metric"):
        direction = "higher" if payload.get("higher_is_better", True) else "lower"
        items.append(f"primary metric `{payload['primary_metric']}` ({direction} is better)")
    return BulletList(tuple(items))


def _section(title: str, *blocks: Block | None) -> list[Block]:
    return [Heading(title, 2), *(b for b in blocks if b is not None)]


def _image(payload: dict[str, Any], key: str, alt: str, base: Path, check: bool) -> Image | None:
    path = _plot(payload, key, base, check)
    return Image(path, alt) if path is not None else None


def _analysis_blocks(payload: dict[str, Any], base: Path, check: bool) -> list[Block]:
    """Robustness, modality contribution and efficiency, each when the run measured it."""
    blocks: list[Block] = []
    if rob := payload.get("robustness"):
        header = ["modality", "perturbation", "clean", "worst", "relative robustness"]
        keys = ("clean", "worst", "relative_robustness")
        rows = [[r["modality"], r["kind"], *(fmt(r.get(k)) for k in keys)] for r in rob["summary"]]
        curves = _image(payload, "robustness", "Robustness curves", base, check)
        blocks += _section(f"Robustness ({rob['metric']})", table(header, rows), curves)
    if con := payload.get("contribution"):
        header = ["modality", "Shapley value", "leave-one-out"]
        rows = [[r["modality"], fmt(r["shapley"]), fmt(r["leave_one_out"])] for r in con["values"]]
        bars = _image(payload, "contribution", "Modality contribution", base, check)
        blocks += _section(f"Modality contribution ({con['metric']})", table(header, rows), bars)
    if eff := payload.get("efficiency"):
        batch = eff.get("eval_batch_size")
        rows = [[m.text(batch), fmt(eff.get(m.key))] for m in EFFICIENCY_MEASURES]
        blocks += _section("Efficiency", table(["measure", "value"], rows))
    return blocks


def run_blocks(
    payload: dict[str, Any],
    config: ExperimentConfig | None = None,
    run_dir: str | Path | None = None,
) -> list[Block]:
    """The blocks of one evaluated run's report.

    Args:
        payload: the run's ``metrics.json``.
        config: the run's config; None for predictions made elsewhere.
        run_dir: the folder of the run (plots are relative to it; its ``config.yaml`` and
            ``env.json`` are shown). None: plots are linked relative to the report as the
            payload names them, unchecked, and no config or environment is shown.
    """
    base, check = (Path(run_dir), True) if run_dir is not None else (Path("."), False)
    blocks: list[Block] = [
        Heading(str(payload.get("run", base.name)), 1),
        _setup(payload, config),
        *_section("Metrics", metrics_table(payload)),
    ]
    for key, title, alt in (
        ("confusion_matrix", "Confusion matrix", "Confusion matrix"),
        ("reliability", "Calibration", "Reliability diagram"),
    ):
        if (image := _image(payload, key, alt, base, check)) is not None:
            blocks += _section(title, image)
    blocks += _analysis_blocks(payload, base, check)
    if run_dir is not None:
        details = config_and_env(base, str(payload.get("run", base.name)))
        if details is not None:
            blocks += _section("Config and environment", details)
    return blocks


def render_run_report(
    payload: dict[str, Any],
    config: ExperimentConfig | None,
    run_dir: str | Path | None = None,
) -> str:
    """The run's ``report.md``: the Markdown of :func:`run_blocks` (see there)."""
    return render_markdown(run_blocks(payload, config, run_dir), run_dir or ".")


def _load_config(run_dir: Path) -> ExperimentConfig:
    import yaml

    from polymodal.config import parse_config

    path = run_dir / "config.yaml"
    return parse_config(
        yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path), check_components=False
    )


def write_run_report(run_dir: str | Path) -> WrittenReport:
    """Write ``report.md`` and ``report.html`` of an evaluated run, from the same blocks.

    Raises:
        PolymodalError: the run has not been evaluated (no ``metrics.json``).
    """
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise PolymodalError(
            "the run has not been evaluated (no metrics.json)",
            where=str(run_dir),
            fix=f"run `polymodal evaluate {run_dir}` first",
        )
    payload = json.loads(metrics_path.read_text(encoding="utf-8"))
    blocks = run_blocks(payload, _load_config(run_dir), run_dir)
    return write_report_files(blocks, run_dir, f"polymodal run {payload.get('run', run_dir.name)}")
