"""The interaction contract."""

from __future__ import annotations

from torch import nn

from polymodal.data.schema import Features


class Interaction(nn.Module):
    """Refines features with cross-modal layers: ``dict[str, Features] -> dict[str, Features]``.

    Subclasses take ``in_dims`` (modality name -> width; injected) and their own keyword
    parameters, set ``out_dims`` (modality name -> output width; same keys), and return the same
    keys with refined ``tokens`` and ``pooled``, keeping ``present`` and ``padding_mask``.
    Keys of absent samples (``present`` False) must be masked out of attention.
    """

    out_dims: dict[str, int]

    def __init__(self, in_dims: dict[str, int]) -> None:
        super().__init__()
        self.in_dims = dict(in_dims)

    def forward(self, features: dict[str, Features]) -> dict[str, Features]:  # pragma: no cover
        raise NotImplementedError
