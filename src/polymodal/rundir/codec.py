"""Checkpoint files that never execute code when loaded: safetensors for tensors, JSON for the rest.

A checkpoint is a nested Python structure (Lightning's checkpoint dict: ``state_dict``,
``optimizer_states``, ``lr_schedulers``, ``loops``, ``callbacks``, ``epoch``, ``global_step``,
hyper-parameters, ...). :func:`save_tree` stores it as two files beside each other:

- ``<stem>.safetensors``: every tensor, cloned and contiguous, under a key made of its path in
  the tree (``state_dict/net.0.weight``, ``optimizer_states/0/state/0/exp_avg``);
- ``<stem>.json``: the rest of the tree, each tensor replaced by a reference to its key, and the
  SHA-256 of the ``.safetensors`` file so that a mismatched pair is detected.

JSON holds ``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list`` and string-keyed
``dict`` natively; everything else the format accepts is written as a tagged object
``{"__pm__": TAG, ...}``: ``tuple``, ``dict`` with non-string keys, ``OrderedDict`` (with the
``_metadata`` that ``nn.Module.state_dict`` attaches), non-finite floats (their exact bits),
``bytes`` (base64) and tensors (including ``nn.Parameter`` and ``requires_grad``). Any other object
raises :class:`~polymodal.errors.CheckpointError` naming its key path, before anything is written.
The round trip is exact: bit-identical tensors with the same dtype and shape, the same Python
types, the same key order, and a tensor object referenced twice comes back as one object.

Loading reads the JSON with :mod:`json` and the tensors with :mod:`safetensors`: no pickle, so
no code runs. :func:`save_weights` / :func:`load_weights` keep flat model weights in one
safetensors file; :func:`load_weights` refuses, with a conversion recipe, the zip or pickle files
written by ``torch.save``.

This module is the file format only: it imports neither Lightning nor the training code. The
Lightning plugins that write and resume these files are in :mod:`polymodal.train.checkpoint`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import safetensors
import safetensors.torch
import torch
from safetensors.torch import load as load_safetensors_bytes  # bytes -> tensors, no pickle

from polymodal.errors import CheckpointError
from polymodal.io import write_bytes_atomic, write_text_atomic

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "checkpoint_files",
    "checkpoint_stem",
    "load_tree",
    "load_weights",
    "refuse_pickle",
    "save_tree",
    "save_weights",
]

FORMAT = "polymodal-checkpoint"
FORMAT_VERSION = 1
TAG = "__pm__"

#: Suffixes stripped from a path to get the checkpoint stem; any other suffix is part of the stem
#: (``epoch=1-val_loss=0.52`` is a stem, not ``epoch=1-val_loss=0`` with suffix ``.52``).
KNOWN_SUFFIXES = (".ckpt", ".safetensors", ".json", ".pt", ".pth", ".bin")

_FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")
_OTHER_DTYPES = ("complex64", "bool", "int64", "int32", "int16", "int8", "uint64", "uint32")
_SUPPORTED_DTYPES = frozenset(
    getattr(torch, name)
    for name in (*_FLOAT_DTYPES, *_OTHER_DTYPES, "uint16", "uint8")
    if hasattr(torch, name)
)
_ZIP_MAGIC = b"PK\x03\x04"
_CONVERT_FIX = (
    "if you trust the file, convert it once in a trusted session: "
    "`obj = torch.load(PATH, weights_only=True)`, then for model weights "
    "`safetensors.torch.save_file({k: v.contiguous() for k, v in obj.items()}, "
    "'model.safetensors')`, or for a whole Lightning checkpoint "
    "`polymodal.rundir.codec.save_tree(obj, 'STEM')`; then load the new file"
)

Keys = tuple[Any, ...]


def _where(keys: Keys) -> str:
    """The key path of a node, as Python subscriptions: ``checkpoint["callbacks"][0]``."""
    return "checkpoint" + "".join(f"[{key!r}]" for key in keys)


# ---------------------------------------------------------------------------------------------
# paths


def checkpoint_stem(path: str | Path) -> Path:
    """The stem of a checkpoint path: ``run/last.ckpt``, ``run/last.json`` -> ``run/last``.

    Only the suffixes in :data:`KNOWN_SUFFIXES` are stripped; a path without one is a stem.
    """
    path = Path(path)
    return path.with_suffix("") if path.suffix in KNOWN_SUFFIXES else path


def checkpoint_files(stem: str | Path) -> tuple[Path, Path]:
    """The two files of a checkpoint: ``(<stem>.safetensors, <stem>.json)``."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


# ---------------------------------------------------------------------------------------------
# file kinds


def _sniff(path: Path) -> Literal["safetensors", "zip", "pickle", "unknown"]:
    """Tell a file's format from its first bytes.

    A safetensors file starts with its header length N (u64, little-endian) then ``{``, and is at
    least 8 + N bytes long. Its first byte may be ``0x80`` (N = 128, ...), so this test comes
    before the pickle one (``0x80`` then a protocol number 2-5).
    """
    with path.open("rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    if len(head) == 9 and head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size:
        return "safetensors"
    if head[:4] == _ZIP_MAGIC:
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    return "unknown"


def refuse_pickle(path: str | Path) -> None:
    """Raise :class:`CheckpointError` if ``path`` is a ``torch.save`` zip archive or a pickle.

    Such files can run arbitrary code when loaded, so polymodal never unpickles them; the error
    says how to convert a trusted file to safetensors. Other files pass silently.
    """
    path = Path(path)
    kind = _sniff(path)
    if kind in ("zip", "pickle"):
        what = "zip archive (torch.save)" if kind == "zip" else "pickle (torch.save)"
        raise CheckpointError(
            f"refusing to unpickle this {what}: loading it can run arbitrary code; "
            "polymodal only reads safetensors + JSON",
            where=str(path),
            fix=_CONVERT_FIX,
        )


# ---------------------------------------------------------------------------------------------
# encoding a tree


class _Encoder:
    """Turns a tree into a JSON-able body and a flat ``{key: tensor}`` dict."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._key_of: dict[int, str] = {}  # id(tensor) -> key: a shared object is stored once
        self._open: set[int] = set()  # ids of the containers on the current path (cycles)

    def encode(self, value: Any, keys: Keys) -> Any:
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else _float_node(value)
        if kind is bytes:
            return {TAG: "bytes", "base64": base64.b64encode(value).decode("ascii")}
        if isinstance(value, torch.Tensor):
            return self._tensor(value, keys)
        if kind in (list, tuple, dict, OrderedDict):
            return self._container(value, keys)
        raise CheckpointError(
            f"cannot store an object of type {kind.__module__}.{kind.__qualname__}",
            where=_where(keys),
            fix="store tensors, numbers, strings, bytes, None, lists, tuples or dicts of them "
            "(e.g. `.item()`, `.tolist()`, `str(path)`, `dict(obj)`)",
        )

    def _container(self, value: Any, keys: Keys) -> Any:
        if id(value) in self._open:
            raise CheckpointError("the structure contains itself", where=_where(keys))
        self._open.add(id(value))
        try:
            if type(value) is list:
                return [self.encode(item, (*keys, i)) for i, item in enumerate(value)]
            if type(value) is tuple:
                items = [self.encode(item, (*keys, i)) for i, item in enumerate(value)]
                return {TAG: "tuple", "items": items}
            if type(value) is dict and all(type(k) is str for k in value) and TAG not in value:
                return {k: self.encode(v, (*keys, k)) for k, v in value.items()}
            return self._mapping(value, keys)
        finally:
            self._open.discard(id(value))

    def _mapping(self, value: dict[Any, Any], keys: Keys) -> dict[str, Any]:
        """A dict with non-string keys, or an ``OrderedDict`` (by ``"map"`` when keys are str)."""
        node: dict[str, Any] = {TAG: "dict" if type(value) is dict else "odict"}
        if node[TAG] == "odict" and all(type(k) is str for k in value):
            node["map"] = {k: self.encode(v, (*keys, k)) for k, v in value.items()}
        else:
            node["items"] = [
                [self._key(k, keys), self.encode(v, (*keys, k))] for k, v in value.items()
            ]
        if hasattr(value, "_metadata"):  # set by nn.Module.state_dict: per-module versions
            node["metadata"] = self.encode(value._metadata, (*keys, "_metadata"))
        return node

    def _key(self, key: Any, keys: Keys) -> Any:
        if type(key) is tuple:
            return {TAG: "tuple", "items": [self._key(k, keys) for k in key]}
        if key is None or type(key) in (bool, int, float, str, bytes):
            return self.encode(key, keys)
        raise CheckpointError(
            f"cannot store a dict key of type {type(key).__qualname__}: {key!r}",
            where=_where(keys),
            fix="use str, int, float, bool, None, bytes or tuples of them as keys",
        )

    def _tensor(self, tensor: torch.Tensor, keys: Keys) -> dict[str, Any]:
        _check_tensor(tensor, _where(keys))
        key = self._key_of.get(id(tensor))
        if key is None:
            key = self._new_key(keys)
            self._key_of[id(tensor)] = key
            # own storage (shared storage is fine), contiguous, on the CPU, conj/neg resolved
            data = tensor.detach().to("cpu").resolve_conj().resolve_neg()
            self.tensors[key] = data.clone(memory_format=torch.contiguous_format)
        node: dict[str, Any] = {
            TAG: "tensor",
            "key": key,
            "dtype": str(tensor.dtype).removeprefix("torch."),
            "shape": list(tensor.shape),
        }
        if isinstance(tensor, torch.nn.Parameter):
            node["parameter"] = True
        if tensor.requires_grad:
            node["requires_grad"] = True
        return node

    def _new_key(self, keys: Keys) -> str:
        base = "/".join(str(k) for k in keys) or "tensor"
        key, n = base, 0
        while key in self.tensors or key == "__metadata__":  # safetensors reserves __metadata__
            n += 1
            key = f"{base}~{n}"
        return key


def _float_node(value: float) -> dict[str, str]:
    """A non-finite float, by its exact IEEE-754 bits (keeps the NaN payload and sign)."""
    return {TAG: "float", "value": repr(value), "bits": struct.pack(">d", value).hex()}


def _check_tensor(tensor: torch.Tensor, where: str) -> None:
    if type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        raise CheckpointError(
            f"cannot store a tensor subclass {type(tensor).__qualname__}",
            where=where,
            fix="store a plain tensor (e.g. `tensor.as_subclass(torch.Tensor)`)",
        )
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type == "meta":
        raise CheckpointError(
            f"cannot store a {tensor.layout} / quantized / meta tensor on {tensor.device}",
            where=where,
            fix="store a dense tensor with data (e.g. `.to_dense()`, `.dequantize()`)",
        )
    if tensor.dtype not in _SUPPORTED_DTYPES:
        raise CheckpointError(
            f"safetensors cannot store dtype {tensor.dtype}",
            where=where,
            fix="convert the tensor to a supported dtype (e.g. complex128 -> two float64 tensors)",
        )


# ---------------------------------------------------------------------------------------------
# decoding a tree


class _Decoder:
    """Rebuilds a tree from its JSON body and the tensors of its ``.safetensors`` file."""

    def __init__(self, tensors: dict[str, torch.Tensor], source: Path) -> None:
        self.tensors = tensors
        self.source = source
        self.used: dict[str, torch.Tensor] = {}

    def fail(self, what: str, keys: Keys) -> CheckpointError:
        return CheckpointError(
            f"corrupt checkpoint: {what}",
            where=f"{self.source} at {_where(keys)}",
            fix="save the checkpoint again; do not edit the JSON by hand",
        )

    def decode(self, node: Any, keys: Keys) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(item, (*keys, i)) for i, item in enumerate(node)]
        if type(node) is not dict:
            raise self.fail(f"unexpected JSON value {node!r}", keys)
        if TAG not in node:
            return {k: self.decode(v, (*keys, k)) for k, v in node.items()}
        return self._tagged(node, keys)

    def _tagged(self, node: dict[str, Any], keys: Keys) -> Any:
        tag = node[TAG]
        try:
            if tag == "tuple":
                return tuple(self.decode(item, (*keys, i)) for i, item in enumerate(node["items"]))
            if tag in ("dict", "odict"):
                return self._mapping(node, keys)
            if tag == "float":
                return struct.unpack(">d", bytes.fromhex(node["bits"]))[0]
            if tag == "bytes":
                return base64.b64decode(node["base64"], validate=True)
            if tag == "tensor":
                return self._tensor(node, keys)
        except (KeyError, TypeError, ValueError, RuntimeError, struct.error) as error:
            raise self.fail(f"malformed {tag!r} node ({error})", keys) from error
        raise self.fail(f"unknown tag {tag!r}", keys)

    def _mapping(self, node: dict[str, Any], keys: Keys) -> dict[Any, Any]:
        out: dict[Any, Any] = {} if node[TAG] == "dict" else OrderedDict()
        pairs = node["map"].items() if "map" in node else node["items"]
        for raw_key, raw_value in pairs:
            key = raw_key if "map" in node else self.decode(raw_key, keys)
            out[key] = self.decode(raw_value, (*keys, key))
        if node[TAG] == "odict" and "metadata" in node:
            out._metadata = self.decode(node["metadata"], (*keys, "_metadata"))  # type: ignore[attr-defined]
        return out

    def _tensor(self, node: dict[str, Any], keys: Keys) -> torch.Tensor:
        key = node["key"]
        if key in self.used:  # the same tensor object referenced twice
            return self.used[key]
        if key not in self.tensors:
            raise self.fail(f"tensor {key!r} is missing from the .safetensors file", keys)
        tensor = self.tensors[key]
        dtype = str(tensor.dtype).removeprefix("torch.")
        if dtype != node["dtype"] or list(tensor.shape) != node["shape"]:
            raise self.fail(
                f"tensor {key!r} is {dtype}{list(tensor.shape)} in the .safetensors file, "
                f"{node['dtype']}{node['shape']} in the JSON",
                keys,
            )
        requires_grad = bool(node.get("requires_grad", False))
        if node.get("parameter", False):
            tensor = torch.nn.Parameter(tensor, requires_grad=requires_grad)
        elif requires_grad:
            tensor.requires_grad_(True)
        self.used[key] = tensor
        return tensor


# ---------------------------------------------------------------------------------------------
# save / load


def save_tree(tree: dict[Any, Any], stem: str | Path) -> None:
    """Store ``tree`` as ``<stem>.safetensors`` (tensors) + ``<stem>.json`` (everything else).

    Args:
        tree: a dict of tensors, numbers, strings, bytes, None, lists, tuples and dicts (any
            hashable scalar keys), nested at will.
        stem: the path without suffix; its folder is created if needed.

    The whole tree is encoded before anything is written, so an unsupported object leaves the
    disk untouched. The tensors file is written first, then the JSON, each atomically; the JSON
    records the SHA-256 of the tensors file, so a crash between the two writes is detected on
    load as a mismatched pair instead of silently mixing two checkpoints. Same tree => same bytes.

    Raises:
        CheckpointError: an object the format cannot hold, named by its key path.
    """
    if type(tree) is not dict:
        raise CheckpointError(
            f"a checkpoint must be a dict, got {type(tree).__qualname__}", where=str(stem)
        )
    encoder = _Encoder()
    body = encoder.encode(tree, ())
    # one metadata entry only: safetensors writes metadata in hash-map order, so several entries
    # would make the bytes of the same tree differ from one save to the next
    blob = safetensors.torch.save(encoder.tensors, metadata={"format": "pt"})
    tensors_path, json_path = checkpoint_files(stem)
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "tensors": {
            "file": tensors_path.name,
            "count": len(encoder.tensors),
            "sha256": hashlib.sha256(blob).hexdigest(),
        },
        "tree": body,
    }
    text = json.dumps(header, indent=1, allow_nan=False) + "\n"
    write_bytes_atomic(tensors_path, blob)
    write_text_atomic(json_path, text)


def _read_header(json_path: Path) -> dict[str, Any]:
    try:
        header = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"the checkpoint JSON cannot be parsed ({error})",
            where=str(json_path),
            fix="the file is truncated or not a polymodal checkpoint; save it again",
        ) from error
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(
            f'not a polymodal checkpoint (no "format": "{FORMAT}")', where=str(json_path)
        )
    if header.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format version {header.get('version')!r} is not supported "
            f"(this polymodal reads version {FORMAT_VERSION})",
            where=str(json_path),
            fix="load it with the polymodal version that wrote it",
        )
    return header


def _read_tensors(tensors_path: Path, json_path: Path, header: dict[str, Any]) -> dict[str, Any]:
    refuse_pickle(tensors_path)
    blob = tensors_path.read_bytes()
    info = header.get("tensors")
    expected = info.get("sha256") if isinstance(info, dict) else None
    if hashlib.sha256(blob).hexdigest() != expected:
        raise CheckpointError(
            f"{tensors_path.name} does not belong to {json_path.name} (SHA-256 differs): the "
            "pair is mismatched, or a save was interrupted between its two files",
            where=str(tensors_path),
            fix="use a complete checkpoint (save again, or an earlier checkpoint)",
        )
    try:
        return load_safetensors_bytes(blob)
    except safetensors.SafetensorError as error:
        raise CheckpointError(
            f"unreadable safetensors file ({error})", where=str(tensors_path)
        ) from error


def _to_device(
    tensors: dict[str, torch.Tensor], map_location: str | torch.device | None
) -> dict[str, torch.Tensor]:
    if map_location is None:
        return tensors
    if not isinstance(map_location, str | torch.device):
        raise CheckpointError(
            f"map_location must be a device, got {type(map_location).__qualname__}",
            fix="pass a device such as 'cpu' or 'cuda:0' (tensors are stored device-free)",
        )
    return {key: tensor.to(map_location) for key, tensor in tensors.items()}


def load_tree(
    stem: str | Path, *, map_location: str | torch.device | None = None
) -> dict[Any, Any]:
    """Load a tree written by :func:`save_tree`; reads JSON and safetensors only, runs no code.

    Args:
        stem: the path without suffix (``run/checkpoint/last``).
        map_location: device for every tensor; ``None`` keeps them on the CPU.

    Raises:
        CheckpointError: a missing file of the pair, a mismatched pair, a pickle in place of the
            tensors file, or a corrupt file.
    """
    tensors_path, json_path = checkpoint_files(stem)
    if not json_path.is_file():
        present = f" ({tensors_path.name} exists without it)" if tensors_path.is_file() else ""
        raise CheckpointError(
            f"no checkpoint JSON {json_path.name}{present}",
            where=str(json_path.parent),
            fix="give the stem, .json or .safetensors path of a checkpoint saved by polymodal",
        )
    if not tensors_path.is_file():
        raise CheckpointError(
            f"the checkpoint JSON has no {tensors_path.name} beside it",
            where=str(json_path),
            fix="copy both files of the checkpoint (.json and .safetensors) together",
        )
    header = _read_header(json_path)
    tensors = _to_device(_read_tensors(tensors_path, json_path, header), map_location)
    decoder = _Decoder(tensors, json_path)
    tree = decoder.decode(header.get("tree"), ())
    unused = sorted(set(tensors) - set(decoder.used))
    if unused or type(tree) is not dict:
        raise CheckpointError(
            f"the pair is mismatched: tensors {unused[:3]} are not referenced by the JSON"
            if unused
            else "the checkpoint tree is not a dict",
            where=str(json_path),
        )
    return tree


def save_weights(
    weights: Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    metadata: dict[str, str] | None = None,
) -> None:
    """Save model weights (a flat ``{name: tensor}``) as one safetensors file, atomically.

    Tensors are copied to the CPU, contiguous, so shared storage (tied weights) is fine; the
    folder is created if needed. ``metadata`` (str -> str) goes into the safetensors header
    beside ``"format": "pt"``; without it the same weights give the same bytes, with it the
    order of the header's metadata entries may vary between saves (safetensors keeps them in a
    hash map), the content does not.
    """
    flat: dict[str, torch.Tensor] = {}
    for name, tensor in weights.items():
        if type(name) is not str or not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"weights must map str -> Tensor; got {type(name).__qualname__} -> "
                f"{type(tensor).__qualname__}",
                where=f"{path} at key {name!r}",
            )
        _check_tensor(tensor, f"{path} at key {name!r}")
        flat[name] = tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    blob = safetensors.torch.save(flat, metadata={"format": "pt", **(metadata or {})})
    write_bytes_atomic(path, blob)


def load_weights(path: str | Path, *, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Load model weights from a safetensors file; refuse anything else.

    Args:
        path: a ``.safetensors`` file (the format is told by content, not by name).
        device: where to put the tensors.

    Raises:
        CheckpointError: the file is missing, is a ``torch.save`` zip / pickle (refused, with how
            to convert it), or is not a safetensors file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("no such weights file", where=str(path))
    refuse_pickle(path)
    if _sniff(path) != "safetensors":
        raise CheckpointError(
            "not a safetensors file",
            where=str(path),
            fix="give a .safetensors file (see `polymodal.rundir.codec.save_weights`)",
        )
    try:
        return safetensors.torch.load_file(path, device=device)
    except safetensors.SafetensorError as error:
        raise CheckpointError(f"unreadable safetensors file ({error})", where=str(path)) from error
