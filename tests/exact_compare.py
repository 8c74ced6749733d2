"""Exact comparison of checkpoint trees, shared by the codec and the Lightning plugin tests."""

from __future__ import annotations

import struct
from typing import Any

import torch


def bits(tensor: torch.Tensor) -> bytes:
    """The raw bytes of a tensor's elements in row-major order."""
    own = tensor.detach().cpu().clone(memory_format=torch.contiguous_format)
    return bytes(own.untyped_storage())


def assert_same(a: Any, b: Any, where: str = "tree") -> None:
    """Same Python types, same key order, bit-identical floats and tensors."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape, a.requires_grad) == (b.dtype, b.shape, b.requires_grad), where
        assert bits(a) == bits(b), where
    elif isinstance(a, float):
        assert struct.pack(">d", a) == struct.pack(">d", b), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
        assert hasattr(a, "_metadata") == hasattr(b, "_metadata"), where
        if hasattr(a, "_metadata"):
            assert_same(a._metadata, b._metadata, f"{where}._metadata")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
