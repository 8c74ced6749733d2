"""The report of one task evaluation: the same blocks as ``report.md`` and ``report.html``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from polymodal.report.blocks import BulletList, Code, Heading, Paragraph, table
from polymodal.report.markdown import fmt, render_markdown

EXAMPLES = 5


def _interval(ci: dict[str, Any] | None) -> str:
    return f"[{fmt(ci['low'])}, {fmt(ci['high'])}]" if ci else ""


def task_blocks(frame: pd.DataFrame, payload: dict[str, Any]) -> list[Any]:
    """The blocks of the report: task and model, metrics per template, spread, failures, samples."""
    task, model = payload["task"], payload["model"]
    blocks: list[Any] = [
        Heading(f"Task {task['name']}", 1),
        BulletList(
            (
                f"task file `{task['file']}`, sha256 `{task['sha256'][:16]}...`",
                f"model: `{model}`",
                f"{payload['num_samples']} samples, {payload['templates']} templates, "
                f"answers by {payload['method']}, extraction `{task['extraction']['rule']}`",
            )
        ),
        Heading("Metrics per template", 2),
    ]
    rows = []
    for entry in payload["per_template"]:
        for name, value in entry["metrics"].items():
            rows.append([str(entry["template"]), name, fmt(value),
                         _interval(entry["intervals"].get(name))])  # fmt: skip
    blocks.append(table(["template", "metric", "value", "95% interval"], rows))
    if payload["templates"] > 1:
        blocks.append(Heading("Prompt sensitivity", 2))
        spread = payload["sensitivity"]
        blocks.append(table(
            ["metric", "mean", "std", "min", "max"],
            [[n, fmt(s["mean"]), fmt(s["std"]), fmt(s["min"]), fmt(s["max"])]
             for n, s in spread.items()],
        ))  # fmt: skip
    failed = payload["failed"]
    blocks.append(Heading("Failed calls", 2))
    blocks.append(Paragraph(
        f"{failed['count']} failed calls (scored as empty answers)"
        + (f"; first ids: {', '.join(map(str, failed['ids']))}" if failed["count"] else ".")
    ))  # fmt: skip
    blocks.append(Heading("Examples", 2))
    for row in frame.head(EXAMPLES).itertuples():
        blocks.append(Code(
            f"{row.prompt}\n--- raw output: {row.raw_output!r}\n--- answer: {row.answer!r}"
            f"   target: {row.target!r}   score: {row.score:.4f}",
        ))  # fmt: skip
    return blocks


def task_report(frame: pd.DataFrame, payload: dict[str, Any]) -> tuple[str, str]:
    """``(markdown, html)`` of a task evaluation's report."""
    from polymodal.report.html import render_html

    blocks = task_blocks(frame, payload)
    title = f"{payload['task']['name']}: {payload['model'].get('kind', 'model')}"
    return render_markdown(blocks, "."), render_html(title, blocks)
