"""Image preprocessing: bilinear resize to a fixed size, then per-channel normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from polymodal.errors import DataError


def resize_image(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize ``[C, H, W]`` to ``[C, size[0], size[1]]`` by bilinear interpolation.

    Uses half-pixel centres (``align_corners=False``) and, when shrinking, an antialiasing
    triangle filter widened by the scale factor, which reproduces Pillow's ``Image.BILINEAR``
    resize (to float rounding) rather than sampling only the 2 x 2 nearest pixels.
    """
    height, width = size
    if height < 1 or width < 1:
        raise DataError(f"image size must be positive, got {size!r}", fix="use e.g. [224, 224]")
    if image.ndim != 3:
        raise DataError(f"expected an image [C, H, W], got shape {tuple(image.shape)}")
    if tuple(image.shape[1:]) == (height, width):
        return image
    batched = image.unsqueeze(0).float()  # [1, C, H, W]
    out = F.interpolate(
        batched, size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return out.squeeze(0)  # [C, height, width]


def normalize_image(image: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """``(image[c] - mean[c]) / std[c]`` for each channel ``c`` of ``[C, H, W]``.

    Raises:
        DataError: ``mean`` / ``std`` do not have one value per channel, or a ``std`` is <= 0.
    """
    channels = int(image.shape[0])
    if len(mean) != channels or len(std) != channels:
        raise DataError(
            f"mean and std need one value per channel ({channels}), got {len(mean)} and {len(std)}",
            fix=f"give {channels} values to mean and to std, or change channels",
        )
    if any(s <= 0 for s in std):
        raise DataError(f"std values must be > 0, got {list(std)}")
    m = torch.tensor(list(mean), dtype=image.dtype).view(channels, 1, 1)  # [C, 1, 1]
    s = torch.tensor(list(std), dtype=image.dtype).view(channels, 1, 1)  # [C, 1, 1]
    return (image - m) / s


class ImageTransform:
    """Resize (optional) then normalise (optional): float ``[C, H, W] -> [C, H', W']``.

    Args:
        size: ``(H', W')`` to resize to; None keeps the image's own size.
        mean, std: per-channel statistics; None (both) skips normalisation, so values stay in
            [0, 1].

    Example:
        >>> t = ImageTransform((32, 32), mean=[0.5] * 3, std=[0.25] * 3)
        >>> t(torch.full((3, 64, 48), 0.75)).shape
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        size: tuple[int, int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if (mean is None) != (std is None):
            raise DataError("give both mean and std, or neither", fix="add the missing one")
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.mean = None if mean is None else [float(v) for v in mean]
        self.std = None if std is None else [float(v) for v in std]

    def __call__(self, image: Tensor) -> Tensor:
        if self.size is not None:
            image = resize_image(image, self.size)
        if self.mean is not None and self.std is not None:
            image = normalize_image(image, self.mean, self.std)
        return image
