"""Files of an evaluated generation task: predictions table, ``metrics.json``, ``report.md``.

The report is the run report's blocks (setup, metrics with intervals) plus the signature or
convention of every metric and a few examples (hypothesis beside its references).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.io import atomic_write, write_json_atomic, write_text_atomic
from polymodal.report.blocks import Block, BulletList, Heading, table
from polymodal.report.markdown import render_markdown
from polymodal.report.run_report import run_blocks
from polymodal.rundir.layout import METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE


def generation_blocks(payload: dict[str, Any]) -> list[Block]:
    """The report blocks of a generation evaluation (see the module docstring)."""
    blocks = [_decoded_setup(b, payload) for b in run_blocks(payload, None, None)]
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


_ELSEWHERE = "predictions made elsewhere"


def _decoded_setup(block: Block, payload: dict[str, Any]) -> Block:
    """A run's own decoding replaces the setup line of predictions made elsewhere."""
    decoding = payload.get("decoding")
    if decoding is None or not isinstance(block, BulletList):
        return block
    keys = ("strategy", "beam_width", "length_penalty", "alpha", "max_new_tokens")
    if decoding.get("strategy") != "beam":
        keys = ("strategy", "temperature", "top_p", "seed", "max_new_tokens")
    if decoding.get("strategy") == "greedy":
        keys = ("strategy", "max_new_tokens")
    line = (
        f"decoded by the run's model from {', '.join(payload.get('modalities', []))}: "
        + ", ".join(f"{k} {decoding.get(k)}" for k in keys)
    )
    items = tuple(line if i.startswith(_ELSEWHERE) else i for i in block.items)
    return BulletList(items)


def write_generation_outputs(table: pd.DataFrame, payload: dict[str, Any], out_dir: Path) -> None:
    """Write ``predictions.parquet``, ``metrics.json`` and ``report.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / PREDICTIONS_FILE, mode="wb") as handle:
        table.to_parquet(handle, index=False)
    write_json_atomic(out_dir / METRICS_FILE, payload)
    write_text_atomic(out_dir / REPORT_FILE, render_markdown(generation_blocks(payload), out_dir))
