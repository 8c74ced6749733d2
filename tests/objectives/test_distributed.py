"""Contrastive objectives across processes (polymodal.objectives.distributed): two gloo processes
on CPU, each with its part of a fixed global batch, give the one-process loss, and the average of
their gradients (DDP's convention) is the one-process gradient.

float64 throughout, so the only differences are float summation order (measured below 1e-13); the
tolerance 1e-6 is far below what a rank-local loss gives (other negatives: a different loss).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.multiprocessing as mp
from torch import nn

from polymodal.data.schema import Batch, ModalityBatch
from polymodal.objectives.contrastive import global_positives, info_nce_loss
from polymodal.objectives.distributed import gather_objects, gather_rows
from polymodal.objectives.moco import CrossModalMoCo

WORLD = 2
ATOL = 1e-6


class _Tower(nn.Module):
    """``[B, F] -> [B, D]`` linear embedding of one modality of a batch."""

    def __init__(self, modality: str, in_dim: int, dim: int) -> None:
        super().__init__()
        self.modality = modality
        self.lin = nn.Linear(in_dim, dim).double()

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.lin(batch.inputs[self.modality].values)


def _global_data() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    present_a = torch.ones(8, dtype=torch.bool)
    present_a[5] = False  # an absent side on rank 1: the pair leaves the loss
    positives = torch.eye(8, dtype=torch.bool)
    for i, j in ((1, 6), (2, 3)):  # shared items: across ranks (1, 6) and within rank 0 (2, 3)
        positives[i, j] = positives[j, i] = True
    present_text = torch.ones(8, dtype=torch.bool)
    present_text[2] = False
    return {
        "x_a": torch.randn(8, 5, generator=gen, dtype=torch.float64),
        "x_b": torch.randn(8, 6, generator=gen, dtype=torch.float64),
        "present_a": present_a,
        "positives": positives,
        "image": torch.randn(3, 8, 4, generator=gen, dtype=torch.float64),  # 3 steps
        "text": torch.randn(3, 8, 5, generator=gen, dtype=torch.float64),
        "present_text": present_text,
    }


def _clip_params() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return {
        "w_a": torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_(),
        "w_b": torch.randn(6, 3, generator=gen, dtype=torch.float64).requires_grad_(),
        "log_scale": torch.tensor(2.0, dtype=torch.float64).requires_grad_(),
    }


def _clip_case(rows: slice, positives: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Loss and parameter gradients of InfoNCE over the rows ``rows`` of the global batch."""
    data, params = _global_data(), _clip_params()
    loss = info_nce_loss(
        data["x_a"][rows] @ params["w_a"],
        data["x_b"][rows] @ params["w_b"],
        params["log_scale"].exp(),
        present_a=data["present_a"][rows],
        positives=positives,
    )
    loss.backward()
    return {"loss": loss.detach(), **{k: p.grad for k, p in params.items()}}


def _moco_run(rows: slice) -> dict[str, torch.Tensor]:
    """Three training steps of cross-modal MoCo (gradients of each step, no optimiser step):
    the later steps use the queues filled by the earlier ones."""
    data = _global_data()
    torch.manual_seed(0)
    towers = {"image": _Tower("image", 4, 3), "text": _Tower("text", 5, 3)}
    moco = CrossModalMoCo(towers, embed_dim=3, queue_size=12, momentum=0.9).double().train()
    out: dict[str, torch.Tensor] = {}
    for step in range(3):
        present = {"image": torch.ones(8, dtype=torch.bool), "text": data["present_text"]}
        inputs = {m: ModalityBatch(data[m][step][rows], present[m][rows]) for m in present}
        ids = [f"s{i}" for i in range(8)][rows]
        moco.zero_grad()
        loss = moco(Batch(ids, inputs)).loss
        loss.backward()
        out[f"loss{step}"] = loss.detach()
        for name, p in moco.towers.named_parameters():
            out[f"grad{step}.{name}"] = p.grad.clone()
    for m in ("image", "text"):
        out[f"queue.{m}"] = moco.queues[m].ordered().clone()
    return out


def _worker(rank: int, rendezvous: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=WORLD)
    try:
        halves = slice(4 * rank, 4 * rank + 4)
        uneven = slice(0, 3) if rank == 0 else slice(3, 8)
        results = {
            "clip_global": _clip_case(halves, _global_data()["positives"]),
            "clip_local": _clip_case(halves, _global_data()["positives"][halves, halves]),
            "clip_uneven": _clip_case(uneven, None),
            "moco": _moco_run(halves),
            "gathered": gather_rows(torch.arange(3 * rank, 3 * rank + 2 + rank))[0],
            "objects": gather_objects([f"r{rank}"] * (rank + 1)),
        }
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _assert_ddp_equals_one_process(ranks: list[dict], one: dict, loss_keys: list[str]) -> None:
    for key, expected in one.items():
        if key in loss_keys:
            for result in ranks:  # every rank computes the global batch's loss
                torch.testing.assert_close(result[key], expected, rtol=0, atol=ATOL)
        else:  # DDP: the sum of the ranks' gradients divided by the world size
            averaged = sum(result[key] for result in ranks) / WORLD
            if key.startswith("queue."):  # the queues: the same on every rank
                averaged = ranks[0][key]
                torch.testing.assert_close(ranks[1][key], expected, rtol=0, atol=ATOL)
            torch.testing.assert_close(averaged, expected, rtol=0, atol=ATOL, msg=key)


def test_two_gloo_processes_give_the_one_process_loss_and_gradients(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(tmp_path)), nprocs=WORLD)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    everything = slice(0, 8)
    positives = _global_data()["positives"]

    one = _clip_case(everything, positives)
    _assert_ddp_equals_one_process([r["clip_global"] for r in ranks], one, ["loss"])
    # rank-local losses would differ: the global batch's negatives are what makes it match
    local = _clip_case(slice(0, 4), positives[:4, :4])["loss"]
    assert abs(float(local) - float(one["loss"])) > 1e-2
    # local masks (each rank its own rows) miss the cross-rank pair (1, 6): the loss without it
    no_cross = positives.clone()
    no_cross[1, 6] = no_cross[6, 1] = False
    one_local = _clip_case(everything, no_cross)
    _assert_ddp_equals_one_process([r["clip_local"] for r in ranks], one_local, ["loss"])
    assert abs(float(one_local["loss"]) - float(one["loss"])) > 1e-3
    _assert_ddp_equals_one_process(
        [r["clip_uneven"] for r in ranks], _clip_case(everything, None), ["loss"]
    )

    moco_one = _moco_run(everything)
    assert int(moco_one["queue.image"].shape[0]) == 12  # the queue filled and wrapped
    losses = [k for k in moco_one if k.startswith("loss")]
    _assert_ddp_equals_one_process([r["moco"] for r in ranks], moco_one, losses)
    assert float(moco_one["loss2"]) > 0  # later steps have queued negatives

    assert ranks[0]["gathered"].tolist() == [0, 1, 3, 4, 5]  # rank 0: 2 rows, rank 1: 3 rows
    assert ranks[1]["objects"] == ["r0", "r1", "r1"]


def test_one_process_gathers_nothing_and_keeps_the_mask() -> None:
    x = torch.randn(3, 2)
    assert gather_rows(x) == (x, 0)
    assert gather_objects(["a"]) == ["a"]
    local = torch.tensor([[True, False], [True, True]])
    assert torch.equal(global_positives(local, 2, 2, 0, torch.device("cpu")), local)
    assert torch.equal(global_positives(None, 5, 5, 0, torch.device("cpu")), torch.eye(5) > 0)
