"""The multimodal model: encoders -> optional interaction -> fusion -> head."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
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


UNIMODAL_PREFIX = "unimodal_logits/"
"""``ModelOutput.extras`` key prefix of a unimodal head's output (``unimodal_logits/<m>``)."""
FUSION_OUTPUT_PREFIX = "output/"
"""``ModelOutput.extras`` key prefix of the task output of a fusion's own head for one modality
(late fusion's ``output/<m>``); with ``unimodal_loss_weight`` > 0 and no separate unimodal heads,
these are the outputs the unimodal losses train (a loss per head)."""
PRESENT_PREFIX = "present/"
"""``ModelOutput.extras`` key prefix of a modality's presence mask, next to its unimodal output."""


class MultimodalModel(nn.Module):
    """Encoders (one per used modality), an optional interaction, a fusion and a head.

    ``forward(batch)`` encodes every modality that has an encoder (other modalities of the batch
    are ignored), refines the features with the interaction, fuses them to ``[B, fusion.out_dim]``
    and applies the head; a fusion with ``owns_head`` (late fusion) gives the task output itself
    and ``head`` must be None. Fusions may expose extra tensors (e.g. per-modality logits) through
    a ``forward_with_extras(features) -> (fused, extras)`` method; they land in
    ``ModelOutput.extras``.

    **Unimodal auxiliary losses.** With ``unimodal_heads`` (modality -> a classifier of the task
    over that encoder's pooled features ``[B, D_m]``, before any interaction) and
    ``unimodal_loss_weight`` w > 0, the training loss adds w times the mean of their task losses
    (each on the samples that have the modality); predictions still come from the fused output
    only. Training the fused model alone lets each encoder learn its own modality poorly (one
    modality's gradient signal dominates: "modality competition", Wang et al. 2020, *What Makes
    Training Multi-modal Classification Networks Hard?*, whose gradient blending weighs such
    unimodal losses); the extra terms keep every encoder learning. Without ``unimodal_heads``, a
    fusion that gives its own per-modality outputs (late fusion's ``output/<m>`` extras) has
    those trained by the unimodal losses instead: a loss per head.

    Args:
        encoders: modality name -> encoder; the order is the modality order of the model.
        fusion: the fusion, built with ``in_dims`` of the (interaction's) feature widths.
        head: the head, or None when ``fusion.owns_head``.
        interaction: optional cross-modal layers.
        unimodal_heads: optional modality -> unimodal classifier (see above).
        unimodal_loss_weight: w, the weight of the unimodal losses.
    """

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        fusion: Fusion,
        head: Head | None = None,
        interaction: Interaction | None = None,
        unimodal_heads: Mapping[str, nn.Module] | None = None,
        unimodal_loss_weight: float = 0.0,
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
        self._unimodal_loss = _TASK_LOSS.get(self.task.type, cross_entropy_loss)
        self.frozen_encoders: set[str] = set()
        self.unimodal_heads = nn.ModuleDict(dict(unimodal_heads)) if unimodal_heads else None
        self.unimodal_loss_weight = unimodal_loss_weight

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
        return self._interact(self._encode_each(batch))

    def _encode_each(self, batch: Batch) -> dict[str, Features]:
        missing = [m for m in self.encoders if m not in batch.inputs]
        if missing:
            raise DataError(
                f"the batch has no {', '.join(repr(m) for m in missing)} modality",
                where=f"batch with modalities {sorted(batch.inputs)}",
                fix="collate every modality the model has an encoder for (it may be absent in "
                "every sample: present False)",
            )
        return {m: encoder(batch.inputs[m]) for m, encoder in self.encoders.items()}

    def _interact(self, features: dict[str, Features]) -> dict[str, Features]:
        return features if self.interaction is None else self.interaction(features)

    def fuse(self, features: dict[str, Features]) -> tuple[Tensor, dict[str, Tensor]]:
        """The fused vector ``[B, fusion.out_dim]`` and the fusion's extras (maybe empty)."""
        return self.fusion.forward_with_extras(features)

    def forward(self, batch: Batch) -> ModelOutput:
        encoded = self._encode_each(batch)
        features = self._interact(encoded)
        fused, extras = self.fuse(features)
        output = fused if self.head is None else self.head(fused)
        extras = dict(extras)
        if self.unimodal_heads is not None:  # on each encoder's own features, before interaction
            for m, head in self.unimodal_heads.items():
                extras[f"{UNIMODAL_PREFIX}{m}"] = head(encoded[m].pooled)
                extras[f"{PRESENT_PREFIX}{m}"] = encoded[m].present
        elif self.unimodal_loss_weight > 0:  # a fusion with its own per-modality heads (late)
            for m in self.encoders:
                if f"{FUSION_OUTPUT_PREFIX}{m}" in extras:
                    extras[f"{UNIMODAL_PREFIX}{m}"] = extras[f"{FUSION_OUTPUT_PREFIX}{m}"]
                    extras[f"{PRESENT_PREFIX}{m}"] = encoded[m].present
        return ModelOutput(output=output, features=features, extras=extras)

    def _task_head(self) -> Head | TaskDecoder:
        return self.head if self.head is not None else self.decoder  # type: ignore[return-value]

    def loss(self, output: ModelOutput, target: Tensor) -> Tensor:
        """Scalar training loss of the model's output against ``target``: the task's loss,
        plus ``unimodal_loss_weight`` times the mean over modalities of each unimodal head's
        task loss on the samples that have the modality (when the model has unimodal heads)."""
        loss = self._task_head().loss(output.output, target)
        if self.unimodal_loss_weight == 0.0:
            return loss
        terms = []
        for m in self.encoders:
            logits = output.extras.get(f"{UNIMODAL_PREFIX}{m}")
            if logits is None:
                continue
            present = output.extras[f"{PRESENT_PREFIX}{m}"].bool()
            if bool(present.any()):
                terms.append(self._unimodal_loss(logits[present], target[present]))
        if not terms:
            return loss
        return loss + self.unimodal_loss_weight * torch.stack(terms).mean()

    def predict(self, output: ModelOutput) -> Prediction:
        """Decoded predictions of the model's output."""
        return self._task_head().predict(output.output)
