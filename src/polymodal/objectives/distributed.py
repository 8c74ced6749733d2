"""Gathering a contrastive objective's rows from every process (``torch.distributed``).

With ``torch.distributed`` initialised and a world of ``W > 1`` processes, each holding a local
batch of ``B_r`` rows, :func:`gather_rows` concatenates every rank's rows in rank order into the
global batch ``[N, ...]`` (``N = sum_r B_r``; ranks may hold different counts) and returns where
the local rows start (``offset = sum_{s < r} B_s``), so rank ``r``'s row ``i`` is global row
``offset + i``. In one process (not initialised, or ``W = 1``) it returns its input and offset 0:
nothing changes.

Gradients: the gathered tensor carries the gradient to the local rows only, and its backward sums
the gradient of the gathered tensor over ranks (an all-reduce) before taking the local rows. When
every rank computes the same loss ``L`` over the global batch, rank ``r`` thus gets
``W * dL / d x_r``: after DDP's average over ranks the parameters get exactly the one-process
gradient ``dL / d theta`` (putting the local tensor back into a detached gather would give
``1 / W`` of it). Every rank must call backward (as DDP training does).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group; ``(0, 1)`` when not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _sizes(n: int, device: torch.device) -> list[int]:
    """Rows held by each rank, in rank order."""
    _, size = world()
    mine = torch.tensor([n], dtype=torch.long, device=device)
    every = [torch.zeros_like(mine) for _ in range(size)]
    dist.all_gather(every, mine)
    return [int(s) for s in every]


class _GatherRows(torch.autograd.Function):
    """Forward: the ranks' rows concatenated (padded to the longest for the collective).
    Backward: the gradient summed over ranks, the local rows of it."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, sizes: list[int], offset: int) -> Tensor:  # type: ignore[override]
        longest = max(sizes)
        padded = x.new_zeros((longest, *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        ctx.rows = (offset, x.shape[0])
        return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        offset, n = ctx.rows
        return grad[offset : offset + n], None, None


def gather_rows(x: Tensor) -> tuple[Tensor, int]:
    """Every rank's ``x [B_r, ...]`` concatenated in rank order, and this rank's first row.

    Args:
        x: the local rows ``[B_r, ...]`` (any dtype; bool is gathered as uint8 and returned as
            bool). With ``requires_grad`` the result carries the gradient to ``x`` (see the module
            docs for the scaling that makes DDP's average exact).

    Returns:
        ``(gathered [N, ...], offset)``; ``(x, 0)`` in one process.
    """
    rank, size = world()
    if size == 1:
        return x, 0
    sizes = _sizes(x.shape[0], x.device)
    offset = sum(sizes[:rank])
    if x.dtype == torch.bool:
        return _GatherRows.apply(x.to(torch.uint8), sizes, offset).bool(), offset
    return _GatherRows.apply(x, sizes, offset), offset


def gather_objects(items: list[Any]) -> list[Any]:
    """Every rank's list of picklable ``items`` concatenated in rank order (e.g. sample ids, to
    find rows that share an item across ranks); ``items`` itself in one process."""
    _, size = world()
    if size == 1:
        return items
    every: list[Any] = [None] * size
    dist.all_gather_object(every, list(items))
    return [item for part in every for item in part]
