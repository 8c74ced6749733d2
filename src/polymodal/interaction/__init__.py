"""Interaction layers: cross-modal layers that refine each modality's tokens."""

from polymodal.interaction.base import Interaction

__all__ = ["Interaction"]
