"""Neural-network building blocks shared by every component layer (layer 0: imports only torch
and :mod:`polymodal.errors`).

- :mod:`polymodal.nn.masking`: padding / presence masks, masked mean and softmax, zeroing.
- :mod:`polymodal.nn.layers`: masked multi-head attention, transformer blocks, positions.
- :mod:`polymodal.nn.params`: :func:`check_params` for component constructors.
"""

from polymodal.nn.layers import (
    FeedForward,
    MultiHeadAttention,
    TransformerBlock,
    TransformerEncoder,
    sinusoidal_positions,
)
from polymodal.nn.masking import (
    key_mask,
    last_valid,
    lengths_of,
    masked_mean,
    masked_softmax,
    no_padding,
    present_mean,
    valid_positions,
    zero_absent,
    zero_invalid,
    zero_padding,
)
from polymodal.nn.params import check_params

__all__ = [
    "FeedForward",
    "MultiHeadAttention",
    "TransformerBlock",
    "TransformerEncoder",
    "check_params",
    "key_mask",
    "last_valid",
    "lengths_of",
    "masked_mean",
    "masked_softmax",
    "no_padding",
    "present_mean",
    "sinusoidal_positions",
    "valid_positions",
    "zero_absent",
    "zero_invalid",
    "zero_padding",
]
