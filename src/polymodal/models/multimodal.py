"""The multimodal model: encoders -> optional interaction -> fusion -> head."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from torch import Tensor, nn

from polymodal.data.schema import Batch, Features, ModelOutput, TaskSpec
from polymodal.encoders.base import Encoder
from polymodal.errors import DataError
from polymodal.fusion.base import Fusion
from polymodal.heads.base import Head, Prediction
from polymodal.heads.classification import cross_entropy_loss, decode_multiclass
from polymodal.heads.multilabel import decode_multilabel, multilabel_loss
from polymodal.heads.regression import decode_regression, regression_loss
from polymodal.interaction.base import Interaction

_TASK_LOSS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "multiclass": cross_entropy_loss,
    "multilabel": multilabel_loss,
    "regression": regression_loss,
}
_TASK_DECODE: dict[str, Callable[[Tensor], Prediction]] = {
    "multiclass": decode_multiclass,
    "multilabel": decode_multilabel,
    "regression": decode_regression,
}


class TaskDecoder(nn.Module):
    """Parameter-free loss and decoding of a task's output, for fusions that own their head
    (late fusion). Uses the default head's functions of each task type: cross-entropy and
    argmax/softmax (multiclass), BCE-with-logits and sigmoid >= 0.5 (multilabel), MSE and the
    values (regression)."""

    def __init__(self, task: TaskSpec) -> None:
        super().__init__()
        self.task = task
        self._loss = _TASK_LOSS[task.type]
        self._decode = _TASK_DECODE[task.type]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return self._loss(output, target)

    def predict(self, output: Tensor) -> Prediction:
        return self._decode(output)


class MultimodalModel(nn.Module):
    """Encoders (one per used modality), an optional interaction, a fusion and a head.

    ``forward(batch)`` encodes every modality that has an encoder (other modalities of the batch
    are ignored), refines the features with the interaction, fuses them to ``[B, fusion.out_dim]``
    and applies the head; a fusion with ``owns_head`` (late fusion) gives the task output itself
    and ``head`` must be None. Fusions may expose extra tensors (e.g. per-modality logits) through
    a ``forward_with_extras(features) -> (fused, extras)`` method; they land in
    ``ModelOutput.extras``.

    Args:
        encoders: modality name -> encoder; the order is the modality order of the model.
        fusion: the fusion, built with ``in_dims`` of the (interaction's) feature widths.
        head: the head, or None when ``fusion.owns_head``.
        interaction: optional cross-modal layers.
    """

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        fusion: Fusion,
        head: Head | None = None,
        interaction: Interaction | None = None,
    ) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("a model needs at least one encoder")
        if fusion.owns_head and head is not None:
            raise ValueError(f"{type(fusion).__name__} owns its head; pass head=None")
        if not fusion.owns_head and head is None:
            raise ValueError(f"{type(fusion).__name__} needs a head after it")
        self.encoders = nn.ModuleDict(dict(encoders))
        self.interaction = interaction
        self.fusion = fusion
        self.head = head
        self.task: TaskSpec = fusion.task
        self.decoder = TaskDecoder(self.task) if head is None else None
        self.frozen_encoders: set[str] = set()

    def freeze_encoders(self, names: Iterable[str]) -> None:
        """Freeze the encoders of ``names``: no gradient, and eval mode (no dropout, fixed
        normalisation statistics) even while the model trains, as in a linear probe."""
        for name in names:
            self.encoders[name].requires_grad_(False)
            self.frozen_encoders.add(name)
        self.train(self.training)

    def train(self, mode: bool = True) -> MultimodalModel:
        """Set train mode; frozen encoders (:meth:`freeze_encoders`) stay in eval mode."""
        super().train(mode)
        for name in self.frozen_encoders:
            self.encoders[name].eval()
        return self

    @property
    def modalities(self) -> list[str]:
        """The modalities the model reads, in order."""
        return list(self.encoders.keys())

    def encode(self, batch: Batch) -> dict[str, Features]:
        """Per-modality features after the encoders and the interaction (if any)."""
        missing = [m for m in self.encoders if m not in batch.inputs]
        if missing:
            raise DataError(
                f"the batch has no {', '.join(repr(m) for m in missing)} modality",
                where=f"batch with modalities {sorted(batch.inputs)}",
                fix="collate every modality the model has an encoder for (it may be absent in "
                "every sample: present False)",
            )
        features = {m: encoder(batch.inputs[m]) for m, encoder in self.encoders.items()}
        if self.interaction is not None:
            features = self.interaction(features)
        return features

    def fuse(self, features: dict[str, Features]) -> tuple[Tensor, dict[str, Tensor]]:
        """The fused vector ``[B, fusion.out_dim]`` and the fusion's extras (maybe empty)."""
        return self.fusion.forward_with_extras(features)

    def forward(self, batch: Batch) -> ModelOutput:
        features = self.encode(batch)
        fused, extras = self.fuse(features)
        output = fused if self.head is None else self.head(fused)
        return ModelOutput(output=output, features=features, extras=dict(extras))

    def _task_head(self) -> Head | TaskDecoder:
        return self.head if self.head is not None else self.decoder  # type: ignore[return-value]

    def loss(self, output: ModelOutput, target: Tensor) -> Tensor:
        """Scalar training loss of the model's output against ``target`` (the task's loss)."""
        return self._task_head().loss(output.output, target)

    def predict(self, output: ModelOutput) -> Prediction:
        """Decoded predictions of the model's output."""
        return self._task_head().predict(output.output)
