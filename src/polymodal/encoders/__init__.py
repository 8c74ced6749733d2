"""Encoders: one file per family; each maps a ModalityBatch to Features."""

from polymodal.encoders.base import Encoder

__all__ = ["Encoder"]
