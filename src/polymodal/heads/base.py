"""The head contract."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from polymodal.data.schema import TaskSpec


@dataclass
class Prediction:
    """Decoded predictions of a batch.

    Attributes:
        prediction: int64 ``[B]`` class (multiclass), float ``[B, L]`` of 0/1 (multilabel) or
            float ``[B, K]`` values (regression).
        scores: float ``[B, C]`` probabilities (multiclass softmax, multilabel sigmoid) or the
            regression values again.
    """

    prediction: Tensor
    scores: Tensor


class Head(nn.Module):
    """Maps ``[B, in_dim]`` to the task output and knows the task's loss and decoding.

    Subclasses take ``in_dim`` and ``task`` (injected) plus their own keyword parameters.
    """

    def __init__(self, in_dim: int, task: TaskSpec) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.task = task

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, output: Tensor, target: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scalar training loss of ``output`` (from forward) against ``target``."""
        raise NotImplementedError

    def predict(self, output: Tensor) -> Prediction:  # pragma: no cover - abstract
        raise NotImplementedError
