"""Fusion methods: one file per method; each maps dict[str, Features] to a tensor [B, out_dim]."""

from polymodal.fusion.base import Fusion

__all__ = ["Fusion"]
