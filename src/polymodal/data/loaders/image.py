"""Image loader: a file decoded by Pillow into float32 ``[C, H, W]`` in [0, 1]."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from polymodal.errors import DataError

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _to_array(image: Image.Image, channels: Literal[1, 3]) -> np.ndarray:
    """``[H, W]`` (channels 1) or ``[H, W, 3]`` (channels 3) float32 in [0, 1]."""
    if image.mode in _SIXTEEN_BIT:  # 16-bit grey: Pillow's convert("L") would clip, not scale
        grey = np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)  # [H, W]
        return grey if channels == 1 else np.repeat(grey[:, :, None], 3, axis=2)  # [H, W, 3]
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")  # alpha is then dropped: colour channels kept
    mode = "L" if channels == 1 else "RGB"
    return np.asarray(image.convert(mode), dtype=np.float32) / 255.0


def load_image(path: str | Path, channels: Literal[1, 3] = 3) -> Tensor:
    """Decode an image file with Pillow, turned upright by its EXIF orientation.

    Args:
        path: the image file (any format Pillow reads: PNG, JPEG, BMP, GIF (first frame), ...).
        channels: 1 (grey, Pillow mode ``L``) or 3 (Pillow mode ``RGB``).

    Returns:
        float32 ``[C, H, W]`` with values in [0, 1] (8-bit images: value / 255).

    Raises:
        DataError: the file is missing, empty (0 bytes), unreadable, not an image, truncated or
            too large.
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}", fix="use channels: 1 or 3")
    p = Path(path)
    try:
        if p.stat().st_size == 0:  # Pillow would only say it cannot identify the format
            raise DataError(
                "image file is empty (0 bytes)",
                where=str(p),
                fix="re-export or re-download the file, or remove it from the dataset",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as image:
                image.load()  # decode now: a truncated file fails here, not later
                upright = ImageOps.exif_transpose(image)
                array = _to_array(upright, channels)
    except FileNotFoundError:
        raise DataError(
            "image file not found", where=str(p), fix="check the path, relative to the manifest"
        ) from None
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(
            "not a readable image (unknown format, or too many pixels)",
            where=str(p),
            fix="check that the file is an image Pillow can open (PNG, JPEG, ...)",
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise DataError(
            f"cannot decode image ({exc})",
            where=str(p),
            fix="the file is corrupt or truncated: re-export or remove it",
        ) from None
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim == 2:
        return tensor.unsqueeze(0)  # [H, W] -> [1, H, W]
    return tensor.permute(2, 0, 1).contiguous()  # [H, W, C] -> [C, H, W]
