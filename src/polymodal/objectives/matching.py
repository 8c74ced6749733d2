"""Image-text matching (ITM) with hard negatives mined in the batch.

ALBEF (Li et al. 2021, *Align before Fuse*), section 3.2: for each positive pair ``(a_i, b_i)``
of a batch, a negative ``b`` is sampled for ``a_i`` with probability proportional to
``softmax(sim[i])`` over the other candidates (the hard, similar ones are likely), and a negative
``a`` for ``b_i`` from ``softmax(sim[:, i])``; the positive (and any other positive given by a
mask) is never a candidate. A matching head then classifies the ``3N`` pairs (``N`` positives,
``2N`` negatives) as match (1) or not (0) with cross-entropy.

Missing modality: pairs where either side is absent take no part, as pairs or as negatives.
Sampling uses the given ``torch.Generator``, so it is deterministic for a seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from polymodal.errors import DataError
from polymodal.heads.matching import matching_loss
from polymodal.objectives.contrastive import valid_pairs


def mine_hard_negatives(
    sim: Tensor,
    *,
    positives: Tensor | None = None,
    hardest: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One negative column per row of a similarity matrix.

    Row ``i`` samples a column ``j`` with ``positives[i, j]`` False, with probability
    ``softmax_j(sim[i, j])`` renormalised over those columns, or takes the most similar one
    (argmax) when ``hardest``.

    Args:
        sim: ``[N, M]`` similarities (logits) of queries against candidates; not differentiated.
        positives: bool ``[N, M]`` of columns never chosen for row ``i`` (default: the diagonal,
            which needs ``N == M``).
        hardest: take the argmax instead of sampling.
        generator: random generator of the sampling.

    Returns:
        int64 ``[N]``: the chosen column of each row.

    Raises:
        DataError: a row with no candidate (e.g. a batch of one pair).
    """
    sim = sim.detach()
    n, m = sim.shape
    if positives is None:
        if n != m:
            raise DataError(
                f"a non-square similarity matrix {n}x{m} needs an explicit positive mask",
                where="hard negative mining",
                fix="give positives[i, j] = True for the columns row i must not take",
            )
        positives = torch.eye(n, dtype=torch.bool, device=sim.device)
    positives = positives.bool()
    empty = (~positives).sum(dim=1) == 0  # [N]
    if bool(empty.any()):
        raise DataError(
            f"{int(empty.sum())} rows have no negative candidate (batch of {n} pairs)",
            where="hard negative mining",
            fix="use batches with at least two valid pairs that are not positives of each other",
        )
    masked = sim.float().masked_fill(positives, float("-inf"))  # [N, M]
    if hardest:
        return masked.argmax(dim=1)
    weights = masked.softmax(dim=1)  # [N, M], 0 at positives
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)  # [N]


@dataclass
class MatchingPairs:
    """The pairs of an ITM step: ``(a[index_a[k]], b[index_b[k]])`` has label ``label[k]``.

    Attributes:
        index_a: int64 ``[3N]`` rows of modality a.
        index_b: int64 ``[3N]`` rows of modality b.
        label: int64 ``[3N]``: 1 for the ``N`` positives (first), 0 for the ``N`` pairs
            (a_i, mined b) then the ``N`` pairs (mined a, b_i).
    """

    index_a: Tensor
    index_b: Tensor
    label: Tensor


def matching_pairs(
    sim: Tensor,
    *,
    present_a: Tensor | None = None,
    present_b: Tensor | None = None,
    positives: Tensor | None = None,
    hardest: bool = False,
    generator: torch.Generator | None = None,
) -> MatchingPairs:
    """Positive pairs and one mined negative per side, over the valid pairs of a batch.

    Args:
        sim: ``[B, B]`` similarities, ``sim[i, j]`` of ``a_i`` and ``b_j`` (e.g. the contrastive
            logits).
        present_a: bool ``[B]``, False where sample ``i`` has no modality a.
        present_b: bool ``[B]``, likewise for b.
        positives: bool ``[B, B]``: ``b_j`` also matches ``a_i`` (never a negative); default:
            the identity.
        hardest: take the most similar negative instead of sampling.
        generator: random generator of the sampling.

    Returns:
        :class:`MatchingPairs` with indices into the batch (``N`` = number of valid pairs).
    """
    b = sim.shape[0]
    if sim.shape != (b, b):
        raise DataError(
            f"expected a square [B, B] similarity matrix, got {tuple(sim.shape)}",
            where="image-text matching",
            fix="give sim[i, j] of a_i and b_j for the B pairs of the batch",
        )
    if positives is None:
        positives = torch.eye(b, dtype=torch.bool, device=sim.device)
    valid = valid_pairs(b, present_a, present_b).to(sim.device)
    rows = valid.nonzero().squeeze(1)  # [N] batch indices of valid pairs
    sub = sim[rows][:, rows]  # [N, N]
    pos = positives.bool()[rows][:, rows]  # [N, N]
    neg_b = rows[mine_hard_negatives(sub, positives=pos, hardest=hardest, generator=generator)]
    neg_a = rows[mine_hard_negatives(sub.T, positives=pos.T, hardest=hardest, generator=generator)]
    n = rows.shape[0]
    label = torch.cat([torch.ones(n), torch.zeros(2 * n)]).long().to(sim.device)  # [3N]
    return MatchingPairs(
        index_a=torch.cat([rows, rows, neg_a]),
        index_b=torch.cat([rows, neg_b, rows]),
        label=label,
    )


def concat_pair(rep_a: Tensor, rep_b: Tensor) -> Tensor:
    """The default pair fusion: ``[N, Da] , [N, Db] -> [N, Da + Db]``."""
    return torch.cat([rep_a, rep_b], dim=-1)


class MatchingLoss(nn.Module):
    """ITM loss (ALBEF, Li et al. 2021) over a matching head's logits, with mined negatives.

    ``forward(rep_a [B, Da], rep_b [B, Db], sim [B, B], ...)`` builds :func:`matching_pairs`
    from ``sim`` (detached), fuses each pair with ``fuse`` (default :func:`concat_pair`; ALBEF
    uses its cross-attention encoder), scores it with ``head`` (e.g. the ``matching`` head with
    ``in_dim = Da + Db``) and returns ``matching_loss(logits, labels)``.

    Args:
        head: maps ``[3N, in_dim]`` to match logits ``[3N, 2]`` or ``[3N]``.
        fuse: pair fusion ``(rep_a [3N, Da], rep_b [3N, Db]) -> [3N, in_dim]``; an
            ``nn.Module`` is trained with the head.
        hardest: take the most similar negative instead of sampling.
    """

    def __init__(
        self,
        head: nn.Module,
        fuse: Callable[[Tensor, Tensor], Tensor] | None = None,
        hardest: bool = False,
    ) -> None:
        super().__init__()
        self.head = head
        self.fuse = fuse if fuse is not None else concat_pair
        self.hardest = hardest

    def forward(
        self,
        rep_a: Tensor,
        rep_b: Tensor,
        sim: Tensor,
        present_a: Tensor | None = None,
        present_b: Tensor | None = None,
        positives: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        pairs = matching_pairs(
            sim.detach(),
            present_a=present_a,
            present_b=present_b,
            positives=positives,
            hardest=self.hardest,
            generator=generator,
        )
        fused = self.fuse(rep_a[pairs.index_a], rep_b[pairs.index_b])  # [3N, in_dim]
        return matching_loss(self.head(fused), pairs.label)
