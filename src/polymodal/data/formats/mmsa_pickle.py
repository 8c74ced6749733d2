"""Reading an MMSA feature pickle safely: trust asked first, numpy types only, layout checked.

MMSA (Yu et al., the CH-SIMS toolkit) ships CMU-MOSI, CMU-MOSEI and CH-SIMS as one pickle per
alignment (``aligned_50.pkl``, ``unaligned_50.pkl``, ``unaligned_39.pkl``): a dict with keys
``train``, ``valid`` and ``test``, each a dict of numpy arrays over the split's N samples:

===================== =================== ==========================================================
key                   shape               meaning
===================== =================== ==========================================================
``text``              ``[N, T, Dt]``      token vectors (BERT 768-d in MMSA 2, GloVe 300-d before)
``text_bert``         ``[N, 3, T]``       BERT token ids, attention mask, segment ids (as floats)
``audio``             ``[N, Ta, Da]``     acoustic features (COVAREP / librosa), may hold -inf
``vision``            ``[N, Tv, Dv]``     facial features (Facet / OpenFace)
``audio_lengths``     ``[N]``             true lengths of ``audio`` (unaligned files only)
``vision_lengths``    ``[N]``             true lengths of ``vision`` (unaligned files only)
``regression_labels`` ``[N]``             sentiment score ([-3, 3] MOSI / MOSEI, [-1, 1] SIMS)
``id``                ``[N]``             clip ids (``video$_$clip``)
``raw_text``          ``[N]``             the transcripts
===================== =================== ==========================================================

(plus ``classification_labels`` and, for SIMS, ``regression_labels_T`` / ``_A`` / ``_V``).

A pickle runs code when loaded, so :func:`read_mmsa_pickle` refuses unless the caller passed
``trust=True``, then checks the file starts like a pickle, unpickles with an
:class:`pickle.Unpickler` that only builds numpy arrays, dtypes and scalars (any other class or
function in the file is refused before it is called), and checks the layout above.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.errors import ConfigError, DataError

SPLIT_KEYS: dict[str, str] = {"train": "train", "valid": "val", "test": "test"}
"""MMSA's split keys -> polymodal's split names."""

_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    (module, name)
    for core in ("numpy.core", "numpy._core")
    for module, name in (
        (f"{core}.multiarray", "_reconstruct"),
        (f"{core}.multiarray", "scalar"),
        (f"{core}.numeric", "_frombuffer"),
    )
) | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
"""The only globals an MMSA pickle needs: numpy's array / scalar reconstruction (both the
numpy 1 and numpy 2 module names) and ``_codecs.encode`` (bytes in protocol-2 pickles)."""


class _Refused(pickle.UnpicklingError):
    """A global outside :data:`_ALLOWED` was named (internal)."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds builtins containers and numpy values, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise _Refused(f"refused global {module}.{name}")


def _refuse_untrusted(path: Path) -> None:
    raise ConfigError(
        [
            f"data.trust_pickle: {str(path)!r} is a pickle, and loading a pickle can run code "
            "written into it; polymodal reads it only when you trust its source (MMSA's "
            "published files), with a loader limited to numpy arrays. Set "
            "`trust_pickle: true` in the data section to read it"
        ]
    )


def _check_header(path: Path) -> None:
    """A DataError unless ``path`` is a file starting with a pickle protocol 2-5 header."""
    if not path.is_file():
        raise DataError("MMSA feature file not found", where=str(path), fix="check data.path")
    with path.open("rb") as handle:
        head = handle.read(2)
    if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5:
        raise DataError(
            "not a pickle file (no pickle protocol 2-5 header)",
            where=str(path),
            fix="point data.path at MMSA's aligned_50.pkl / unaligned_50.pkl (or _39 for SIMS)",
        )


def read_mmsa_pickle(path: str | Path, *, trust: bool) -> dict[str, dict[str, Any]]:
    """The ``{train, valid, test}`` dict of an MMSA feature pickle, its layout checked.

    Raises:
        ConfigError: ``trust`` is False (pickles run code: the message says so).
        DataError: the file is missing, not a pickle, holds anything but builtins containers
            and numpy values, or does not have MMSA's layout (naming the split and key).
    """
    p = Path(path)
    if not trust:
        _refuse_untrusted(p)
    _check_header(p)
    try:
        with p.open("rb") as handle:
            data = _NumpyOnlyUnpickler(handle, encoding="latin1").load()
    except _Refused as exc:
        raise DataError(
            f"cannot unpickle the file safely ({exc}; nothing in it was run)",
            where=str(p),
            fix="use an MMSA feature file: it holds only dicts, lists and numpy arrays",
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        MemoryError,
    ) as exc:
        raise DataError(
            f"the pickle is truncated or corrupt ({type(exc).__name__}: {exc})",
            where=str(p),
            fix="download the file again",
        ) from None
    check_layout(data, str(p))
    return data


def _layout_error(where: str, what: str) -> DataError:
    return DataError(
        what,
        where=where,
        fix="use MMSA's feature pickles unchanged (see polymodal.data.formats.mmsa_pickle for "
        "the layout: train / valid / test, each with text or text_bert, audio, vision, "
        "regression_labels and id)",
    )


def _array(split: dict[str, Any], key: str, where: str) -> np.ndarray:
    value = split[key]
    if isinstance(value, list | tuple):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise _layout_error(where, f"{key!r} is a {type(value).__name__}, not an array")
    return value


def _check_split(split: Any, name: str, where: str) -> None:
    at = f"{where}, split {name!r}"
    if not isinstance(split, dict):
        raise _layout_error(at, f"the split is a {type(split).__name__}, not a dict")
    missing = [k for k in ("audio", "vision", "regression_labels", "id") if k not in split]
    if "text" not in split and "text_bert" not in split:
        missing.append("text or text_bert")
    if missing:
        raise _layout_error(at, f"key(s) {missing} missing (keys: {sorted(map(str, split))})")
    n = len(_array(split, "id", at))
    expected = {"audio": 3, "vision": 3, "text": 3, "text_bert": 3}
    for key, ndim in expected.items():
        if key not in split:
            continue
        a = _array(split, key, at)
        if a.ndim != ndim or a.shape[0] != n or a.dtype.kind not in "fiu":
            raise _layout_error(
                f"{at}, key {key!r}",
                f"expected a numeric array [N={n}, T, D], got {a.dtype} {list(a.shape)}",
            )
    if "text_bert" in split and _array(split, "text_bert", at).shape[1] != 3:
        raise _layout_error(f"{at}, key 'text_bert'", "expected [N, 3, T] (ids, mask, segments)")
    for key in ("regression_labels", "audio_lengths", "vision_lengths"):
        if key in split and _array(split, key, at).reshape(n, -1).shape[1] != 1:
            raise _layout_error(f"{at}, key {key!r}", f"expected one value per sample ([{n}])")


def check_layout(data: Any, where: str) -> None:
    """A DataError unless ``data`` has MMSA's layout (see the module docs)."""
    if not isinstance(data, dict) or set(SPLIT_KEYS) - set(data):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise _layout_error(where, f"expected a dict with keys train, valid, test; got {keys}")
    for name in SPLIT_KEYS:
        try:
            _check_split(data[name], name, where)
        except ValueError as exc:  # a reshape that cannot fit
            raise _layout_error(f"{where}, split {name!r}", str(exc)) from None
