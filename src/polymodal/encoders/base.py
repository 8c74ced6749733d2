"""The encoder contract."""

from __future__ import annotations

from torch import nn

from polymodal.data.schema import Features, ModalityBatch, ModalitySpec


class Encoder(nn.Module):
    """Maps one modality's batch to :class:`Features`.

    Subclasses take the dataset's :class:`ModalitySpec` as ``spec`` (injected by the builder) and
    their own keyword parameters (validated from the config), set ``out_dim``, and implement
    ``forward(batch: ModalityBatch) -> Features`` with ``tokens [B, T, out_dim]``,
    ``pooled [B, out_dim]``, ``padding_mask [B, T]`` (True at padding) and
    ``present = batch.present``.
    """

    out_dim: int

    def __init__(self, spec: ModalitySpec) -> None:
        super().__init__()
        self.spec = spec
        self.modality = spec.name

    def forward(self, batch: ModalityBatch) -> Features:  # pragma: no cover - abstract
        raise NotImplementedError
