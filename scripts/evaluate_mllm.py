"""Evaluate a generating run on the built-in tasks with and without its image; print the table.

For each task: ``polymodal tasks run TASK run:RUN`` and, for tasks with an image,
``--perturb drop_image`` (the blind baseline: the same weights, no picture), then the paired
bootstrap between the two (``polymodal tasks compare``) on the first template. Prints a Markdown
table: each metric with its 95 % percentile-bootstrap interval, with the image and blind, the
difference, its interval and p-value; then the spread over the templates. Results go to
``OUT/<task>`` and ``OUT/<task>-blind`` (a folder already holding ``metrics.json`` is reused, so
an interrupted evaluation goes on where it stopped).

    python scripts/evaluate_mllm.py runs/llava --out runs/llava-tasks \\
        --limit easy-vqa=300 --limit flickr8k-retrieval=20 --limit tatoeba-zh-en=200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from polymodal.adapters.base import create_adapter
from polymodal.tasks import compare_results, evaluate_task, find_task

TASKS = ["easy-vqa", "flickr8k-captions", "flickr8k-yes-no", "flickr8k-retrieval", "tatoeba-zh-en"]


def _evaluate(task, adapter, out: Path, limit: int | None, perturb: str | None) -> dict:
    if not (out / "metrics.json").is_file():
        started = time.perf_counter()
        evaluate_task(task, adapter, out, limit=limit, perturbation=perturb)
        print(f"{out.name}: {time.perf_counter() - started:.0f} s", flush=True)
    return json.loads((out / "metrics.json").read_text())


def _cell(payload: dict, metric: str) -> str:
    value = payload["metrics"][metric]
    ci = payload.get("intervals", {}).get(metric)
    return f"{value:.3f}" if not ci else f"{value:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]"


def _has_image(task) -> bool:
    return any("{image}" in t for t in task.spec.prompt.templates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--task", action="append", help="tasks (default: every built-in)")
    parser.add_argument("--limit", action="append", default=[], help="TASK=N seeded subset")
    args = parser.parse_args()
    limits = {k: int(v) for k, v in (item.split("=", 1) for item in args.limit)}
    adapter = create_adapter(f"run:{args.run}")
    lines = [
        "| task | n | metric | with the image | blind (no image) | difference | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in args.task or TASKS:
        task = find_task(name)
        seen = _evaluate(task, adapter, args.out / name, limits.get(name), None)
        n = seen.get("num_samples", "")
        if not _has_image(task):
            for metric in seen["metrics"]:
                cell = _cell(seen, metric)
                lines.append(f"| {name} | {n} | {metric} | {cell} | (no image) | | |")
            continue
        blind = _evaluate(task, adapter, args.out / f"{name}-blind", limits.get(name), "drop_image")
        for row in compare_results(args.out / name, args.out / f"{name}-blind"):
            lines.append(
                f"| {name} | {n} | {row.metric} | {_cell(seen, row.metric)} | "
                f"{_cell(blind, row.metric)} | {row.difference:+.3f} [{row.low:+.3f}, "
                f"{row.high:+.3f}] | {row.p_value:.4f} |"
            )
    print("\n".join(lines))
    print("\nPrimary metric under each template (with the image; the model trained on the first):")
    for name in args.task or TASKS:
        payload = json.loads((args.out / name / "metrics.json").read_text())
        metric = payload["primary_metric"]
        values = ", ".join(f"{t['metrics'][metric]:.3f}" for t in payload["per_template"])
        print(f"- {name} ({metric}): {values}")


if __name__ == "__main__":
    main()
