"""Cross-modal momentum contrast: momentum (EMA) towers and FIFO queues of negatives.

MoCo (He et al. 2020, *Momentum Contrast for Unsupervised Visual Representation Learning*), made
cross-modal as in ALBEF's momentum queues (Li et al. 2021, *Align before Fuse*): two online towers
``f_a``, ``f_b`` give queries, their momentum copies ``g_a``, ``g_b`` give keys, and each modality
keeps a queue of its past keys. For a batch, with L2-normalised ``q_m = f_m(x)`` and
``k_m = g_m(x)`` ``[B, D]``, temperature ``t`` and the queue ``Q_b [K, D]`` of b's keys::

    logits_ab = [q_a . k_b,  q_a @ Q_b.T] / t               # [N, 1 + K], positive at column 0
    loss_ab   = CE(logits_ab, 0)
    loss      = (loss_ab + loss_ba) / 2

Each training step (``module.train()``) first updates the momentum towers,
``theta_g <- m theta_g + (1 - m) theta_f``, computes the keys with them (no gradient), computes
the loss against the queues as they were, then enqueues the keys (FIFO: the oldest are
overwritten). The queues start empty (no made-up negatives), so the first step's loss is 0 and
the queues fill within ``queue_size / B`` steps. In eval mode neither the momentum towers nor the
queues change.

Missing modality: pairs where either side is absent are not queries; the keys of absent samples
are not enqueued. Queue and momentum towers are registered buffers and submodules, so a
checkpoint (``state_dict``) keeps them.

Across processes (``torch.distributed`` initialised, ``W > 1`` ranks): queries, keys and
presence flags of every rank are gathered in rank order
(:func:`~polymodal.objectives.distributed.gather_rows`), every rank computes the one-process loss
of the global batch (gradients reach the local queries; DDP's average of the ranks' gradients is
the one-process gradient) and enqueues the gathered keys, so the queues stay the same on every
rank and equal to one process's. In one process nothing changes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.schema import Batch
from polymodal.errors import ConfigError, DataError
from polymodal.objectives.contrastive import tower_embedding, valid_pairs
from polymodal.objectives.distributed import gather_rows


@torch.no_grad()
def momentum_update(online: nn.Module, momentum_copy: nn.Module, momentum: float) -> None:
    """EMA of the parameters: ``p_k <- momentum * p_k + (1 - momentum) * p_q`` for each pair of
    parameters (same order) of ``momentum_copy`` and ``online``. Buffers are left alone (the copy
    keeps its own, as MoCo's key encoder does)."""
    pairs = zip(momentum_copy.parameters(), online.parameters(), strict=True)
    for p_k, p_q in pairs:
        p_k.mul_(momentum).add_(p_q.detach(), alpha=1.0 - momentum)


class FeatureQueue(nn.Module):
    """A FIFO queue of ``size`` vectors of width ``dim``, stored in registered buffers.

    ``keys [size, dim]`` is a ring buffer written at ``ptr``; ``filled`` counts the valid rows (the
    queue starts empty, so no made-up negatives are used). Enqueuing ``n`` vectors writes them at
    ``ptr, ptr + 1, ...`` modulo ``size`` (wrap-around for any ``n`` and ``size``; with
    ``n > size`` only the last ``size`` are kept).
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ConfigError([f"queue: size and dim must be >= 1, got {size} and {dim}"])
        self.size = size
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def negatives(self) -> Tensor:
        """The valid vectors ``[filled, dim]`` in storage order (all of them once full)."""
        return self.keys[: int(self.filled)]

    def ordered(self) -> Tensor:
        """The valid vectors ``[filled, dim]`` from oldest to newest."""
        if int(self.filled) < self.size:
            return self.keys[: int(self.filled)]
        return torch.roll(self.keys, -int(self.ptr), dims=0)

    @torch.no_grad()
    def enqueue(self, vectors: Tensor) -> None:
        """Append ``vectors [n, dim]`` (detached), overwriting the oldest when full."""
        vectors = vectors.detach()[-self.size :]  # [min(n, size), dim]
        n = vectors.shape[0]
        if n == 0:
            return
        index = (int(self.ptr) + torch.arange(n, device=self.keys.device)) % self.size  # [n]
        self.keys[index] = vectors.to(self.keys.dtype)
        self.ptr.fill_((int(self.ptr) + n) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + n))


def moco_loss(query: Tensor, key: Tensor, queue: Tensor, temperature: float) -> Tensor:
    """InfoNCE of each query against its positive key and the queue's negatives.

    Args:
        query: ``[N, D]`` L2-normalised queries.
        key: ``[N, D]`` L2-normalised positive keys (row ``i`` is the positive of query ``i``).
        queue: ``[K, D]`` negatives (``K`` may be 0).
        temperature: ``t`` of ``logits / t``.

    Returns:
        ``CE([q . k, q @ queue.T] / t, 0)``, the mean over queries; zero (with a graph) for N = 0.
    """
    if query.shape[0] == 0:
        return query.sum() * 0.0
    positive = (query * key).sum(dim=-1, keepdim=True)  # [N, 1]
    negative = query @ queue.T.to(query.dtype)  # [N, K]
    logits = torch.cat([positive, negative], dim=1) / temperature  # [N, 1 + K]
    target = torch.zeros(query.shape[0], dtype=torch.long, device=query.device)
    return F.cross_entropy(logits, target)


@dataclass
class MoCoOutput:
    """What :class:`CrossModalMoCo` returns.

    Attributes:
        loss: the scalar loss.
        queries: modality -> L2-normalised online embeddings ``[B, D]`` (with gradient; this
            process's rows).
        keys: modality -> L2-normalised momentum embeddings ``[B, D]`` (no gradient; this
            process's rows).
    """

    loss: Tensor
    queries: dict[str, Tensor]
    keys: dict[str, Tensor]


class CrossModalMoCo(nn.Module):
    """Cross-modal MoCo over two towers; see the module docs for the loss and the update order.

    A tower maps a :class:`~polymodal.data.schema.Batch` to embeddings ``[B, embed_dim]`` (or to a
    ``ModelOutput`` whose ``output`` they are, as the towers of the ``moco`` preset do); its
    modality's ``batch.inputs[name].present`` says which rows are data. The momentum towers are
    deep copies with ``requires_grad`` off, run under ``no_grad``: they never get gradients
    (leave them out of the optimiser: only ``requires_grad`` parameters need training).

    Args:
        towers: modality name -> online tower, exactly two (any names).
        embed_dim: width of the towers' embeddings (the queues' width).
        queue_size: vectors kept per queue (any size; a multiple of the batch size keeps batches
            contiguous, as in MoCo, but is not required).
        momentum: EMA coefficient ``m`` of the momentum towers, in [0, 1].
        temperature: ``t`` of the logits (MoCo: 0.07).
    """

    def __init__(
        self,
        towers: Mapping[str, nn.Module],
        embed_dim: int,
        queue_size: int = 4096,
        momentum: float = 0.995,
        temperature: float = 0.07,
    ) -> None:
        super().__init__()
        problems = []
        if len(towers) != 2:
            problems.append(f"moco: needs exactly two towers, got {list(towers)}")
        if not 0.0 <= momentum <= 1.0:
            problems.append(f"moco: momentum must be in [0, 1], got {momentum}")
        if temperature <= 0:
            problems.append(f"moco: temperature must be > 0, got {temperature}")
        if queue_size < 1:
            problems.append(f"moco: queue_size must be >= 1, got {queue_size}")
        if problems:
            raise ConfigError(problems)
        self.modalities = list(towers)
        self.momentum = momentum
        self.temperature = temperature
        self.towers = nn.ModuleDict(dict(towers))
        self.momentum_towers = nn.ModuleDict(
            {m: copy.deepcopy(t).requires_grad_(False) for m, t in towers.items()}
        )
        self.queues = nn.ModuleDict({m: FeatureQueue(queue_size, embed_dim) for m in towers})

    def _present(self, batch: Batch, modality: str) -> Tensor:
        if modality not in batch.inputs:
            raise DataError(
                f"the batch has no {modality!r} modality",
                where=f"moco objective (modalities {self.modalities})",
                fix="collate both modalities of the towers (absent samples: present False)",
            )
        return batch.inputs[modality].present

    def forward(self, batch: Batch) -> MoCoOutput:
        a, b = self.modalities
        present = {m: self._present(batch, m) for m in self.modalities}
        queries = {m: F.normalize(tower_embedding(self.towers[m], batch), dim=-1) for m in (a, b)}
        with torch.no_grad():
            if self.training:
                for m in (a, b):
                    momentum_update(self.towers[m], self.momentum_towers[m], self.momentum)
            keys = {
                m: F.normalize(tower_embedding(self.momentum_towers[m], batch), dim=-1).detach()
                for m in (a, b)
            }
        valid = valid_pairs(len(present[a]), present[a], present[b]).to(queries[a].device)
        # across processes: every rank's rows (rank order); in one process these are the inputs
        every_q = {m: gather_rows(queries[m])[0] for m in (a, b)}  # [N, D], grad to local rows
        every_k = {m: gather_rows(keys[m])[0] for m in (a, b)}
        every_valid = gather_rows(valid)[0]
        # cloned: the enqueue below writes the buffers in place, and autograd keeps the negatives
        negatives = {m: self.queues[m].negatives().clone() for m in (a, b)}
        loss_ab = moco_loss(
            every_q[a][every_valid], every_k[b][every_valid], negatives[b], self.temperature
        )
        loss_ba = moco_loss(
            every_q[b][every_valid], every_k[a][every_valid], negatives[a], self.temperature
        )
        if self.training:
            for m in (a, b):
                shown = gather_rows(present[m].bool().to(keys[m].device))[0]
                self.queues[m].enqueue(every_k[m][shown])
        return MoCoOutput(loss=(loss_ab + loss_ba) / 2, queries=queries, keys=keys)
