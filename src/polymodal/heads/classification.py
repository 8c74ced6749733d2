"""Multiclass classification head: logits, cross-entropy loss, argmax / softmax decoding."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.schema import TaskSpec
from polymodal.errors import ConfigError, DataError
from polymodal.heads.base import Head, Prediction
from polymodal.registry import HEADS, Dropout, Positive


def mlp_head(in_dim: int, out_dim: int, hidden_dim: int | None, dropout: float) -> nn.Sequential:
    """``[B, in_dim] -> [B, out_dim]``: Linear -> ReLU -> Dropout -> Linear with a hidden layer of
    ``hidden_dim``, or Dropout -> Linear when ``hidden_dim`` is None."""
    if hidden_dim is None:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, out_dim),
    )


def check_task(head: str, task: TaskSpec, expected: str) -> None:
    """Raise a :class:`ConfigError` when a head is put on a task of another type."""
    if task.type != expected:
        raise ConfigError(
            [f"head {head!r} is for {expected} tasks; the dataset's task is {task.type!r}"]
        )


def cross_entropy_loss(logits: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy of ``logits [B, C]`` against class indices ``target [B]`` (int)."""
    if target.numel() != logits.shape[0]:
        raise DataError(
            f"expected one class index per sample ({logits.shape[0]}), got target of shape "
            f"{tuple(target.shape)}",
            where="multiclass loss",
            fix="give multiclass targets as int64 scalars per sample",
        )
    return F.cross_entropy(logits, target.reshape(-1).long(), label_smoothing=label_smoothing)


def decode_multiclass(logits: Tensor) -> Prediction:
    """``prediction`` = argmax class ``[B]``; ``scores`` = softmax probabilities ``[B, C]``."""
    return Prediction(prediction=logits.argmax(dim=-1), scores=logits.softmax(dim=-1))


@HEADS.register("classification")
class ClassificationHead(Head):
    """Multiclass head: ``[B, in_dim] -> logits [B, C]`` with ``C = task.num_outputs``.

    The optional hidden layer (on by default) gives the fused vector one non-linear layer, which
    is what lets early (concat) fusion learn interactions such as an XOR of two modalities.
    Loss: cross-entropy (with optional label smoothing). Decoding: argmax and softmax.

    Args:
        in_dim: width of the fused vector (injected).
        task: a ``multiclass`` task (injected).
        hidden_dim: width of the hidden layer, or None for a linear head.
        dropout: dropout before the output layer.
        label_smoothing: label smoothing of the cross-entropy, in [0, 1).
    """

    def __init__(
        self,
        in_dim: int,
        task: TaskSpec,
        hidden_dim: Positive | None = 128,
        dropout: Dropout = 0.1,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(in_dim, task)
        check_task("classification", task, "multiclass")
        self.label_smoothing = label_smoothing
        self.net = mlp_head(in_dim, task.num_outputs, hidden_dim, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # [B, C]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return cross_entropy_loss(output, target, self.label_smoothing)

    def predict(self, output: Tensor) -> Prediction:
        return decode_multiclass(output)
