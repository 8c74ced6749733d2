"""Regression head: ``K`` values per sample, MSE or L1 loss, the values as predictions."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from polymodal.data.schema import TaskSpec
from polymodal.errors import DataError
from polymodal.heads.base import Head, Prediction
from polymodal.heads.classification import check_task, mlp_head
from polymodal.registry import HEADS, Dropout, Positive

RegressionLoss = Literal["mse", "l1"]


def regression_loss(output: Tensor, target: Tensor, kind: RegressionLoss = "mse") -> Tensor:
    """Mean squared (``mse``) or absolute (``l1``) error of ``output [B, K]`` against
    ``target [B, K]`` (a ``[B]`` target is accepted when ``K == 1``; no broadcasting)."""
    if target.numel() != output.numel():
        raise DataError(
            f"expected targets of shape {tuple(output.shape)}, got {tuple(target.shape)}",
            where="regression loss",
            fix="give regression targets as float32 [K] vectors per sample",
        )
    target = target.reshape(output.shape).to(output.dtype)
    if kind == "l1":
        return F.l1_loss(output, target)
    return F.mse_loss(output, target)


def decode_regression(output: Tensor) -> Prediction:
    """``prediction`` and ``scores`` are both the predicted values ``[B, K]``."""
    return Prediction(prediction=output, scores=output)


@HEADS.register("regression")
class RegressionHead(Head):
    """Regression head: ``[B, in_dim] -> [B, K]`` with ``K = task.num_outputs``.

    Args:
        in_dim: width of the fused vector (injected).
        task: a ``regression`` task (injected).
        hidden_dim: width of the hidden layer, or None for a linear head.
        dropout: dropout before the output layer.
        loss: ``mse`` (mean squared error) or ``l1`` (mean absolute error).
    """

    def __init__(
        self,
        in_dim: int,
        task: TaskSpec,
        hidden_dim: Positive | None = 128,
        dropout: Dropout = 0.1,
        loss: RegressionLoss = "mse",
    ) -> None:
        super().__init__(in_dim, task)
        check_task("regression", task, "regression")
        self.loss_kind: RegressionLoss = loss
        self.net = mlp_head(in_dim, task.num_outputs, hidden_dim, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # [B, K]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return regression_loss(output, target, self.loss_kind)

    def predict(self, output: Tensor) -> Prediction:
        return decode_regression(output)
