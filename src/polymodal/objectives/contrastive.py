"""Symmetric InfoNCE over two modalities' embeddings, with a learned temperature.

CLIP (Radford et al. 2021, *Learning Transferable Visual Models From Natural Language
Supervision*): for L2-normalised embeddings ``a [N, D]`` and ``b [N, D]`` of ``N`` pairs and a logit
scale ``s = 1 / temperature``::

    logits = s * a @ b.T                                     # [N, N], row i: a_i against every b_j
    loss   = (CE(logits, pos) + CE(logits.T, pos.T)) / 2

where ``CE(L, P)`` is the mean over rows ``i`` with at least one positive of
``-1/|P_i| sum_{j in P_i} log softmax(L_i)_j`` (cross-entropy against the uniform distribution
over the row's positives). With the default positives ``P = I`` this is CLIP's loss
``(F.cross_entropy(logits, arange(N)) + F.cross_entropy(logits.T, arange(N))) / 2``; a positive
mask ``[B, B]`` gives several positives per query (e.g. several captions of one image).

Missing modality: a pair where either side is absent (``present`` False) is left out entirely,
as a query and as a candidate.

Across processes (``torch.distributed`` initialised, ``W > 1`` ranks): the embeddings and
presence flags of every rank are gathered (:func:`~polymodal.objectives.distributed.gather_rows`,
rank order), so ``N`` is the global batch, every rank computes the one-process loss of the global
batch, and its local rows sit at ``offset = sum of the earlier ranks' rows`` (their targets are
``offset + i``). The gather's backward sums over ranks, so DDP's average of the ranks' gradients
is the one-process gradient. Shared items: a positive mask over the global batch ``[N, N]`` keeps
duplicates on different ranks positives; a local ``[B, B]`` mask only covers the rank's own rows.
In one process nothing changes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.schema import Batch, ModelOutput
from polymodal.errors import ConfigError, DataError
from polymodal.objectives.distributed import gather_rows


def tower_embedding(tower: nn.Module, batch: Batch) -> Tensor:
    """Embedding ``[B, D]`` of a tower: ``tower(batch)``, or its ``.output`` when it returns a
    :class:`~polymodal.data.schema.ModelOutput` (a tower of the ``clip`` / ``moco`` presets)."""
    out = tower(batch)
    return out.output if isinstance(out, ModelOutput) else out


def valid_pairs(n: int, present_a: Tensor | None, present_b: Tensor | None) -> Tensor:
    """bool ``[n]``: True where both sides of pair ``i`` are present (None: all present)."""
    valid = torch.ones(n, dtype=torch.bool)
    for present in (present_a, present_b):
        if present is not None:
            if present.shape != (n,):
                raise DataError(
                    f"present mask of shape {tuple(present.shape)}, expected ({n},)",
                    where="contrastive objective",
                    fix="give one presence flag per pair",
                )
            valid = valid.to(present.device) & present.bool()
    return valid


def _soft_cross_entropy(logits: Tensor, positives: Tensor) -> Tensor:
    """Mean over rows with >= 1 positive of ``-mean_{j in P_i} log softmax(logits_i)_j``;
    ``logits [N, M]``, ``positives`` bool ``[N, M]``. Zero (still in the graph) when no row has
    a positive."""
    has = positives.any(dim=1)  # [N]
    if not bool(has.any()):
        return logits.sum() * 0.0
    target = positives.to(logits.dtype)
    target = target / target.sum(dim=1, keepdim=True).clamp(min=1.0)  # rows sum to 1 (or 0)
    per_row = -(target * logits.log_softmax(dim=1)).sum(dim=1)  # [N]
    return per_row[has].mean()


def global_positives(
    positives: Tensor | None, local: int, total: int, offset: int, device: torch.device
) -> Tensor:
    """The positive mask bool ``[N, N]`` over the global batch of ``total`` rows whose rows
    ``offset ..`` are this process's ``local`` rows.

    ``positives`` is None (the identity), a global mask ``[N, N]``, or a local one ``[B, B]``:
    each process's local mask is gathered onto its diagonal block (so every process holds the
    same mask), and rows of different processes are negatives even when they share an item. In
    one process ``N = B`` and the mask is returned as is.
    """
    if positives is None:
        return torch.eye(total, dtype=torch.bool, device=device)
    if positives.shape == (total, total):
        return positives.bool().to(device)
    if positives.shape != (local, local):
        raise DataError(
            f"positive mask of shape {tuple(positives.shape)}, expected ({local}, {local}) or "
            f"the global ({total}, {total})",
            where="contrastive objective",
            fix="give positives[i, j] = True when b_j is a positive of a_i",
        )
    rows = torch.zeros(local, total, dtype=torch.bool, device=device)  # this process's rows
    rows[:, offset : offset + local] = positives.bool().to(device)
    return gather_rows(rows)[0]


def info_nce_loss(
    emb_a: Tensor,
    emb_b: Tensor,
    logit_scale: Tensor | float,
    *,
    present_a: Tensor | None = None,
    present_b: Tensor | None = None,
    positives: Tensor | None = None,
) -> Tensor:
    """Symmetric InfoNCE (CLIP) between paired embeddings; see the module docs for the formula.

    Args:
        emb_a: ``[B, D]`` embeddings of modality a (L2-normalised here, so their scale is
            irrelevant).
        emb_b: ``[B, D]`` embeddings of modality b; row ``i`` is the pair of ``emb_a[i]``.
        logit_scale: ``s = 1 / temperature``, a scalar (tensor for a learned one).
        present_a: bool ``[B]``, False where sample ``i`` has no modality a (its pair is left out).
        present_b: bool ``[B]``, likewise for modality b.
        positives: bool ``[B, B]``, ``positives[i, j]`` True when ``b_j`` is a positive of ``a_i``
            (default: the identity). Rows of ``positives.T`` are the positives of each ``b_j``.
            Across processes: the global ``[N, N]`` mask, or a local one (see
            :func:`global_positives`).

    Returns:
        Scalar loss; zero (with a graph) when no pair is valid.
    """
    if emb_a.ndim != 2 or emb_a.shape != emb_b.shape:
        raise DataError(
            f"expected two [B, D] embeddings of one shape, got {tuple(emb_a.shape)} and "
            f"{tuple(emb_b.shape)}",
            where="contrastive objective",
            fix="project both modalities to the same embed_dim",
        )
    n = emb_a.shape[0]
    valid = valid_pairs(n, present_a, present_b).to(emb_a.device)  # [B]
    emb_a, offset = gather_rows(emb_a)  # [N, D]; N = B in one process
    emb_b, _ = gather_rows(emb_b)
    valid, _ = gather_rows(valid)
    pos = global_positives(positives, n, emb_a.shape[0], offset, emb_a.device)[valid][:, valid]
    a = F.normalize(emb_a[valid], dim=-1)  # [V, D]
    b = F.normalize(emb_b[valid], dim=-1)  # [V, D]
    logits = logit_scale * (a @ b.T)  # [V, V]
    return (_soft_cross_entropy(logits, pos) + _soft_cross_entropy(logits.T, pos.T)) / 2


class LearnedTemperature(nn.Module):
    """A learned logit scale ``s = exp(min(log_s, log(max_logit_scale)))`` (CLIP).

    Log-parameterised so it stays positive; initialised at ``1 / init_temperature`` (CLIP: 0.07)
    and clamped at ``max_logit_scale`` (CLIP: 100). While clamped the scale gets no gradient, as
    with CLIP's in-place clipping. ``forward()`` returns the scalar scale.

    Args:
        init_temperature: the initial temperature ``1 / s``, > 0.
        max_logit_scale: the largest scale, >= ``1 / init_temperature``.
        learn: learn the scale (a parameter) or keep it fixed (a buffer).
    """

    def __init__(
        self, init_temperature: float = 0.07, max_logit_scale: float = 100.0, learn: bool = True
    ) -> None:
        super().__init__()
        if init_temperature <= 0 or max_logit_scale < 1.0 / init_temperature:
            raise ConfigError(
                [
                    f"temperature: need init_temperature > 0 and max_logit_scale >= "
                    f"1 / init_temperature, got {init_temperature} and {max_logit_scale}"
                ]
            )
        self.max_logit_scale = max_logit_scale
        log_scale = torch.tensor(math.log(1.0 / init_temperature))
        if learn:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def forward(self) -> Tensor:
        return self.log_scale.clamp(max=math.log(self.max_logit_scale)).exp()

    @property
    def temperature(self) -> float:
        """The current temperature ``1 / s``."""
        return float(1.0 / self().detach())


class ContrastiveLoss(nn.Module):
    """Symmetric InfoNCE (CLIP, Radford et al. 2021) with a :class:`LearnedTemperature`.

    ``forward(emb_a [B, D], emb_b [B, D], present_a=None, present_b=None, positives=None)`` ->
    scalar loss, see :func:`info_nce_loss`. Put it in the optimiser with the towers so the
    temperature is learned.

    Args:
        init_temperature: initial temperature (CLIP: 0.07).
        max_logit_scale: clamp of the logit scale (CLIP: 100).
        learn_temperature: learn the temperature, or keep ``init_temperature``.
    """

    def __init__(
        self,
        init_temperature: float = 0.07,
        max_logit_scale: float = 100.0,
        learn_temperature: bool = True,
    ) -> None:
        super().__init__()
        self.temperature = LearnedTemperature(init_temperature, max_logit_scale, learn_temperature)

    def forward(
        self,
        emb_a: Tensor,
        emb_b: Tensor,
        present_a: Tensor | None = None,
        present_b: Tensor | None = None,
        positives: Tensor | None = None,
    ) -> Tensor:
        return info_nce_loss(
            emb_a,
            emb_b,
            self.temperature(),
            present_a=present_a,
            present_b=present_b,
            positives=positives,
        )
