"""Retrieval head: a projection to an L2-normalised embedding, for contrastive training."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from polymodal.data.schema import TaskSpec
from polymodal.errors import PolymodalError
from polymodal.heads.base import Head, Prediction
from polymodal.heads.classification import mlp_head
from polymodal.registry import HEADS, Dropout, Positive


def _not_supervised(method: str) -> PolymodalError:
    return PolymodalError(
        f"the retrieval head has no {method}: it returns embeddings, not a task output",
        where=f"head 'retrieval' ({method})",
        fix="train it with a contrastive objective (polymodal.objectives.contrastive or "
        "polymodal.objectives.moco) and evaluate it with the retrieval metrics "
        "(polymodal.evaluate.metrics.retrieval); for a supervised task use a classification, "
        "multilabel or regression head",
    )


@HEADS.register("retrieval")
class RetrievalHead(Head):
    """Projection head of a contrastive tower (CLIP, Radford et al. 2021):
    ``[B, in_dim] -> [B, embed_dim]``, each row L2-normalised (``||e_b||_2 = 1``).

    The projection is Dropout -> Linear (``hidden_dim`` None, as CLIP's linear projection) or
    Linear -> ReLU -> Dropout -> Linear (an MLP projection, as in SimCLR). A row of zeros stays
    zeros (normalisation divides by ``max(||x||, 1e-12)``).

    The head has no task loss or decoding: :meth:`loss` and :meth:`predict` raise a
    :class:`~polymodal.errors.PolymodalError` saying that retrieval is trained with a contrastive
    objective and evaluated with the retrieval metrics.

    Args:
        in_dim: width of the input vector (injected).
        task: the dataset's task (injected); ignored, may be None.
        embed_dim: width of the embedding.
        hidden_dim: width of the hidden layer, or None for a linear projection.
        dropout: dropout before the output layer.
    """

    def __init__(
        self,
        in_dim: int,
        task: TaskSpec | None = None,
        embed_dim: Positive = 64,
        hidden_dim: Positive | None = None,
        dropout: Dropout = 0.0,
    ) -> None:
        super().__init__(in_dim, task)  # type: ignore[arg-type]
        self.embed_dim = embed_dim
        self.net = mlp_head(in_dim, embed_dim, hidden_dim, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.net(x), dim=-1)  # [B, embed_dim], unit rows

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        raise _not_supervised("loss")

    def predict(self, output: Tensor) -> Prediction:
        raise _not_supervised("predict")
