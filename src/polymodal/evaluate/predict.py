"""Run a model over a dataset once into a predictions table.

The predictions table has one row per sample:

==================  ===========================================================================
column              meaning
==================  ===========================================================================
``id``              the sample's id (str)
``target``          int class (multiclass); list of floats (multilabel, regression)
``prediction``      int class (multiclass); list of 0/1 (multilabel); list of floats (regression)
``scores``          list of floats: class probabilities (multiclass, multilabel) or the values
``present_<m>``     bool, one column per modality the model uses
``perturbation``    str, ``"none"`` when clean
``severity``        int, 0 when clean
==================  ===========================================================================

Every metric, interval, test and plot is computed from this table; :func:`write_table` stores
it (and the other tables of an evaluation, such as retrieval ranks) as Parquet.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import torch

from polymodal.data.schema import Batch, TaskSpec
from polymodal.io import atomic_write


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write a predictions table (or any evaluation table) as Parquet, atomically, no index."""
    with atomic_write(Path(path), mode="wb") as handle:
        table.to_parquet(handle, index=False)


@torch.no_grad()
def predict_table(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    task: TaskSpec,
    *,
    perturbation: str = "none",
    severity: int = 0,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Predictions of ``model`` (in eval mode) over ``batches``, as a predictions table."""
    was_training = model.training
    model.eval()
    rows: dict[str, list] = {"id": [], "target": [], "prediction": [], "scores": []}
    presence: dict[str, list[bool]] = {}
    for batch in batches:
        batch = batch.to(device)
        output = model(batch)
        decoded = model.predict(output)
        rows["id"].extend(batch.ids)
        size = len(batch)
        if batch.target is None:
            rows["target"].extend([None] * size)
        elif task.type == "multiclass":
            rows["target"].extend(batch.target.cpu().tolist())
        else:
            rows["target"].extend(batch.target.float().cpu().reshape(size, -1).tolist())
        if task.type == "multiclass":
            rows["prediction"].extend(decoded.prediction.cpu().tolist())
        else:
            rows["prediction"].extend(decoded.prediction.float().cpu().reshape(size, -1).tolist())
        rows["scores"].extend(decoded.scores.float().cpu().reshape(size, -1).tolist())
        for name in getattr(model, "encoders", {}):
            presence.setdefault(name, []).extend(batch.inputs[name].present.cpu().tolist())
    model.train(was_training)
    table = pd.DataFrame(rows)
    for name, flags in presence.items():
        table[f"present_{name}"] = pd.Series(flags, dtype=bool)
    table["perturbation"] = perturbation
    table["severity"] = severity
    return table
