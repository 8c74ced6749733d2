"""Matching head: is this pair a match? A binary classifier over a fused pair representation.

Used for image-text matching (ITM, as in ALBEF, Li et al. 2021): the pairs (positives and mined
hard negatives, see :mod:`polymodal.objectives.matching`) are fused into ``[N, in_dim]`` and this
head scores them. Label convention: 1 = the two sides match, 0 = they do not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from polymodal.data.schema import TaskSpec
from polymodal.errors import DataError
from polymodal.heads.base import Head, Prediction
from polymodal.heads.classification import mlp_head
from polymodal.registry import HEADS, Dropout, Positive


def _check_target(logits: Tensor, target: Tensor) -> Tensor:
    n = logits.shape[0]
    if target.numel() != n:
        raise DataError(
            f"expected one 0/1 match label per pair ({n}), got target of shape "
            f"{tuple(target.shape)}",
            where="matching loss",
            fix="give one label per pair: 1 = match, 0 = no match",
        )
    target = target.reshape(-1)
    if not bool(((target == 0) | (target == 1)).all()):
        raise DataError(
            "match labels must be 0 or 1", where="matching loss", fix="1 = match, 0 = no match"
        )
    return target


def matching_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean loss of match logits against 0/1 labels ``target [N]``.

    ``logits [N, 2]`` (column 1 = match): cross-entropy; ``logits [N]``: binary cross-entropy with
    logits (the logit of "match"). Both are the negative log-likelihood of the label.
    """
    target = _check_target(logits, target)
    if logits.ndim == 2:
        return F.cross_entropy(logits, target.long())
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))


def decode_matching(logits: Tensor) -> Prediction:
    """``prediction`` = 1 (match) / 0 ``[N]`` int64, ``scores`` = ``[N, 2]`` probabilities of
    (no match, match): softmax of ``[N, 2]`` logits, or ``(1 - p, p)`` with ``p = sigmoid`` of
    ``[N]`` logits (so ``prediction`` is 1 iff ``p > 0.5``, the argmax of ``scores``)."""
    if logits.ndim == 2:
        return Prediction(prediction=logits.argmax(dim=-1), scores=logits.softmax(dim=-1))
    p = torch.sigmoid(logits)  # [N]
    scores = torch.stack([1.0 - p, p], dim=-1)  # [N, 2]
    return Prediction(prediction=(logits > 0).long(), scores=scores)


@HEADS.register("matching")
class MatchingHead(Head):
    """Binary match classifier over a fused pair representation ``[N, in_dim]``.

    Output: logits ``[N, 2]`` (columns: no match, match; the default, like the classification
    head and ALBEF's ITM head) or ``[N]`` (one logit of "match") when ``single_logit``. Loss:
    cross-entropy (or binary cross-entropy) against 0/1 labels; decoding: argmax and softmax
    probabilities ``[N, 2]``, see :func:`decode_matching`.

    Args:
        in_dim: width of the fused pair representation (injected).
        task: the dataset's task (injected); ignored, may be None: match labels come from the
            pairing (positives and mined negatives), not from the dataset.
        hidden_dim: width of the hidden layer, or None for a linear classifier.
        dropout: dropout before the output layer.
        single_logit: give one logit per pair ``[N]`` instead of ``[N, 2]``.
    """

    def __init__(
        self,
        in_dim: int,
        task: TaskSpec | None = None,
        hidden_dim: Positive | None = None,
        dropout: Dropout = 0.0,
        single_logit: bool = False,
    ) -> None:
        super().__init__(in_dim, task)  # type: ignore[arg-type]
        self.single_logit = single_logit
        self.net = mlp_head(in_dim, 1 if single_logit else 2, hidden_dim, dropout)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.net(x)  # [N, 1] or [N, 2]
        return logits.squeeze(-1) if self.single_logit else logits

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return matching_loss(output, target)

    def predict(self, output: Tensor) -> Prediction:
        return decode_matching(output)
