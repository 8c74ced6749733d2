"""Files of an evaluated generation task: predictions table, ``metrics.json``, ``report.md``.

The report is the run report's blocks (setup, metrics with intervals) plus the signature or
convention of every metric and a few examples (hypothesis beside its references).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.io import atomic_write, write_json_atomic, write_text_atomic
from polymodal.report.blocks import Block, Heading, table
from polymodal.report.markdown import render_markdown
from polymodal.report.run_report import run_blocks
from polymodal.rundir.layout import METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE


def generation_blocks(payload: dict[str, Any]) -> list[Block]:
    """The report blocks of a generation evaluation (see the module docstring)."""
    blocks = run_blocks(payload, None, None)
    rows = [[name, f"`{text}`"] for name, text in (payload.get("signatures") or {}).items()]
    blocks += [Heading("Signatures and conventions", 2), table(["metric", "signature"], rows)]
    examples = payload.get("examples") or []
    if examples:
        rows = [
            [e["id"], e["hypothesis"].strip() or "(empty)", " / ".join(e["references"])]
            for e in examples
        ]
        blocks += [Heading("Examples", 2), table(["id", "hypothesis", "references"], rows)]
    return blocks


def write_generation_outputs(table: pd.DataFrame, payload: dict[str, Any], out_dir: Path) -> None:
    """Write ``predictions.parquet``, ``metrics.json`` and ``report.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / PREDICTIONS_FILE, mode="wb") as handle:
        table.to_parquet(handle, index=False)
    write_json_atomic(out_dir / METRICS_FILE, payload)
    write_text_atomic(out_dir / REPORT_FILE, render_markdown(generation_blocks(payload), out_dir))
