"""Heads: map the fused vector to the task output, and own the task's loss and decoding."""

from polymodal.heads.base import Head, Prediction

__all__ = ["Head", "Prediction"]
