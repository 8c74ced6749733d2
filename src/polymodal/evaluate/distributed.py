"""Sharded evaluation: several processes predict parts of a dataset, one table comes out.

The dataset is cut into the batches one process would run (``0..b-1``, ``b..2b-1``, ...), and
rank ``r`` of ``W`` predicts batches ``r, r + W, r + 2W, ...``. Every batch is then exactly a
batch of the one-process run, so each row is computed from the same inputs in the same batch, and
:func:`gather_tables` gives back the table :func:`~polymodal.evaluate.predict.predict_table`
of one process, row for row (sorted by dataset index). :func:`predict_table_distributed` does it
all under an initialised ``torch.distributed`` process group (gloo or NCCL), with
``all_gather_object``; without one it is the one-process run.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch.utils.data import Dataset, Subset

from polymodal.data.loading import make_dataloader
from polymodal.data.schema import ModalitySpec, Sample, TaskSpec
from polymodal.errors import PolymodalError
from polymodal.evaluate.predict import predict_table

__all__ = ["INDEX_COLUMN", "gather_tables", "predict_table_distributed", "predict_table_sharded"]

#: Column of a shard's table holding each row's index in the dataset; dropped by gathering.
INDEX_COLUMN = "_dataset_index"


def shard_indices(size: int, *, rank: int, world_size: int, batch_size: int) -> list[int]:
    """Dataset indices of rank ``rank``: the one-process batches ``rank, rank + W, ...``."""
    if world_size < 1 or not 0 <= rank < world_size or batch_size < 1:
        raise PolymodalError(
            f"invalid shard: rank {rank}, world_size {world_size}, batch_size {batch_size}",
            fix="use 0 <= rank < world_size and batch_size >= 1",
        )
    starts = range(rank * batch_size, size, world_size * batch_size)
    return [i for start in starts for i in range(start, min(start + batch_size, size))]


def predict_table_sharded(
    model: torch.nn.Module,
    dataset: Dataset[Sample],
    specs: dict[str, ModalitySpec],
    task: TaskSpec,
    *,
    rank: int,
    world_size: int,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """The predictions table of rank ``rank``'s shard, with its rows' dataset indices in
    :data:`INDEX_COLUMN`. Every rank must use the same ``batch_size``."""
    indices = shard_indices(
        len(dataset),  # type: ignore[arg-type]
        rank=rank,
        world_size=world_size,
        batch_size=batch_size,
    )
    # a shard's batches are whole one-process batches (only the very last may be short)
    loader = make_dataloader(Subset(dataset, indices), specs, batch_size=batch_size)
    table = predict_table(model, loader, task, device=device)
    table[INDEX_COLUMN] = pd.Series(indices, dtype="int64")
    return table


def gather_tables(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Join the shards' tables into the one-process table: rows by dataset index, index column
    dropped, a fresh ``RangeIndex``."""
    if not tables:
        raise PolymodalError("no tables to gather", fix="pass the table of every rank")
    joined = pd.concat(tables, ignore_index=True)
    order = joined[INDEX_COLUMN].to_numpy().argsort(kind="stable")
    if (joined[INDEX_COLUMN].to_numpy()[order] != range(len(joined))).any():
        raise PolymodalError(
            "the shards do not cover the dataset exactly once",
            fix="gather the tables of all ranks 0..W-1, made with the same batch_size",
        )
    return joined.iloc[order].drop(columns=INDEX_COLUMN).reset_index(drop=True)


def predict_table_distributed(
    model: torch.nn.Module,
    dataset: Dataset[Sample],
    specs: dict[str, ModalitySpec],
    task: TaskSpec,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Every rank predicts its shard; every rank gets the whole table (``all_gather_object``).

    Without an initialised process group this is one process predicting everything.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        rank, world = 0, 1
    else:
        rank, world = dist.get_rank(), dist.get_world_size()
    table = predict_table_sharded(
        model,
        dataset,
        specs,
        task,
        rank=rank,
        world_size=world,
        batch_size=batch_size,
        device=device,
    )
    if world == 1:
        return gather_tables([table])
    tables: list[pd.DataFrame | None] = [None] * world
    dist.all_gather_object(tables, table)
    return gather_tables([t for t in tables if t is not None])
