"""A training manifest from evaluation tasks: train a generating run on the prompts it is tested on.

``polymodal tasks export TASK... --split train --out DIR`` writes ``DIR/manifest.csv`` (and the
photos it names under ``DIR/images/``), which a ``manifest`` dataset with ``task: generation``
reads. Each row is one record of a task's ``split`` (for the built-in sources: the split's
photos or sentences never meet the test split), rendered exactly as :mod:`polymodal.tasks.runner`
renders it for a model under test, with the task's first template:

- ``prompt``: the text a run receives for that request (:func:`~polymodal.adapters.run_inputs.
  request_text`: the user message's text parts, the image placeholders removed);
- ``image``: the request's image, copied into ``images/`` under the sha256 of its bytes (empty
  cell: no image; a manifest reads an empty cell as an absent modality);
- ``references``: a JSON list of the target texts (the target field's text, or its list);
- ``group``: the image's file name (rows of one photo always land in the same split), else the
  row's id; ``task``: the task's name.

Only ``generate`` tasks with at most one image per request can be exported (a yes/no or ranking
task has no text to train on). ``blind_fraction`` adds, for a seeded share of the rows, a copy
with the image cell left empty (id suffix ``/blind``, same group): a model trained with them has
learnt to answer from the text alone when the image is absent, so its blind evaluation
(``--perturb drop_image``) measures the language prior at its best, not a model surprised by a
missing input. ``export.json`` records the tasks (name, sha256), split, limits, seed and counts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.adapters.base import ImageInput
from polymodal.adapters.run_inputs import request_text
from polymodal.errors import ConfigError
from polymodal.io import write_json_atomic, write_text_atomic
from polymodal.tasks.loading import LoadedTask
from polymodal.tasks.prompts import build_request
from polymodal.tasks.runner import load_records
from polymodal.tasks.sources import source_fields

MANIFEST_FILE = "manifest.csv"
COLUMNS = ("id", "task", "group", "image", "prompt", "references")


def _check_exportable(task: LoadedTask) -> None:
    if task.spec.output.type != "generate":
        raise ConfigError(
            [
                f"task {task.spec.name!r}: output.type {task.spec.output.type!r} cannot be "
                "exported for training (only generate tasks have target texts)"
            ]
        )


def _copy_image(image: ImageInput, folder: Path, copied: dict[str, str]) -> str:
    """The manifest path of ``image`` (copied into ``folder`` once, named by its sha256)."""
    key = image.path or image.source
    if key in copied:
        return copied[key]
    data = image.read_bytes()
    suffix = Path(image.path).suffix.lower() if image.path else ".png"
    name = f"{hashlib.sha256(data).hexdigest()[:20]}{suffix or '.png'}"
    target = folder / name
    if not target.exists():
        target.write_bytes(data)
    copied[key] = f"images/{name}"
    return copied[key]


def _task_rows(
    task: LoadedTask, split: str, limit: int | None, folder: Path, copied: dict[str, str]
) -> list[dict[str, str]]:
    spec = task.spec.model_copy(update={"data": task.spec.data.model_copy(update={"split": split})})
    moved = LoadedTask(spec, task.path, task.sha256)
    kinds = source_fields(spec.data.source, spec.data.params.get("fields"))
    rows = []
    for record in load_records(moved, limit):
        request = build_request(spec, record, 0, kinds, task.base_dir)
        images = request.images
        if len(images) > 1:
            raise ConfigError([f"task {spec.name!r}: a request with several images"])
        target = record.fields[spec.output.target]
        references = [target] if isinstance(target, str) else list(target)
        image = _copy_image(images[0], folder, copied) if images else ""
        rows.append(
            {
                "id": f"{spec.name}/{record.id}",
                "task": spec.name,
                "group": Path(image).name if image else f"{spec.name}/{record.id}",
                "image": image,
                "prompt": request_text(request),
                "references": json.dumps(references, ensure_ascii=False),
            }
        )
    return rows


def _blind_copies(rows: list[dict[str, str]], fraction: float, seed: int) -> list[dict[str, str]]:
    """Copies of a seeded ``fraction`` of the rows that have an image, without it."""
    with_image = [r for r in rows if r["image"]]
    count = round(fraction * len(with_image))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(with_image))[:count])
    return [{**with_image[i], "id": with_image[i]["id"] + "/blind", "image": ""} for i in chosen]


def export_manifest(
    tasks: Sequence[LoadedTask],
    out_dir: str | Path,
    *,
    split: str = "train",
    limits: Sequence[int | None] = (),
    blind_fraction: float = 0.0,
    seed: int = 0,
) -> Path:
    """Write the training manifest of ``tasks`` (see the module docstring); returns its path.

    Args:
        tasks: ``generate`` tasks.
        out_dir: the folder written (``manifest.csv``, ``images/``, ``export.json``).
        split: the split of every task's source.
        limits: a seeded subset size per task (missing or None: every record of the split).
        blind_fraction: share of the image rows copied without their image, in [0, 1].
        seed: the seed of the blind copies.

    Raises:
        ConfigError: a task that is not ``generate``, a request with several images, or a
            ``blind_fraction`` outside [0, 1].
    """
    if not 0.0 <= blind_fraction <= 1.0:
        raise ConfigError([f"blind_fraction must be in [0, 1], got {blind_fraction}"])
    for task in tasks:
        _check_exportable(task)
    folder = Path(out_dir)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    copied: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    counts: dict[str, Any] = {}
    for i, task in enumerate(tasks):
        limit = limits[i] if i < len(limits) else None
        part = _task_rows(task, split, limit, folder / "images", copied)
        counts[task.spec.name] = len(part)
        rows += part
    blind = _blind_copies(rows, blind_fraction, seed)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows + blind)
    write_text_atomic(folder / MANIFEST_FILE, buffer.getvalue())
    meta = {
        "tasks": [{"name": t.spec.name, "sha256": t.sha256} for t in tasks],
        "split": split,
        "limits": list(limits),
        "blind_fraction": blind_fraction,
        "seed": seed,
        "rows": counts,
        "blind_rows": len(blind),
        "images": len(copied),
    }
    write_json_atomic(folder / "export.json", meta)
    return folder / MANIFEST_FILE
