"""Multilabel head: one logit per label, BCE-with-logits loss, sigmoid >= 0.5 decoding."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from polymodal.data.schema import TaskSpec
from polymodal.errors import DataError
from polymodal.heads.base import Head, Prediction
from polymodal.heads.classification import check_task, mlp_head
from polymodal.registry import HEADS, Dropout, Positive


def multilabel_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean binary cross-entropy with logits of ``logits [B, L]`` against 0/1 ``target [B, L]``."""
    if target.shape != logits.shape:
        raise DataError(
            f"expected targets of shape {tuple(logits.shape)}, got {tuple(target.shape)}",
            where="multilabel loss",
            fix="give multilabel targets as float32 [L] vectors of 0/1 per sample",
        )
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))


def decode_multilabel(logits: Tensor, threshold: float = 0.5) -> Prediction:
    """``scores`` = sigmoid ``[B, L]``; ``prediction`` = float 0/1 ``scores >= threshold``."""
    scores = logits.sigmoid()
    return Prediction(prediction=(scores >= threshold).to(logits.dtype), scores=scores)


@HEADS.register("multilabel")
class MultilabelHead(Head):
    """Multilabel head: ``[B, in_dim] -> logits [B, L]`` with ``L = task.num_outputs``.

    Loss: binary cross-entropy with logits, averaged over samples and labels. Decoding: a label is
    predicted when its sigmoid probability is ``>= threshold``.

    Args:
        in_dim: width of the fused vector (injected).
        task: a ``multilabel`` task (injected).
        hidden_dim: width of the hidden layer, or None for a linear head.
        dropout: dropout before the output layer.
        threshold: probability from which a label is predicted.
    """

    def __init__(
        self,
        in_dim: int,
        task: TaskSpec,
        hidden_dim: Positive | None = 128,
        dropout: Dropout = 0.1,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(in_dim, task)
        check_task("multilabel", task, "multilabel")
        self.threshold = threshold
        self.net = mlp_head(in_dim, task.num_outputs, hidden_dim, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # [B, L]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return multilabel_loss(output, target)

    def predict(self, output: Tensor) -> Prediction:
        return decode_multilabel(output, self.threshold)
