"""The ``mmsa`` dataset: CMU-MOSI, CMU-MOSEI and CH-SIMS from MMSA's feature pickles.

Config (MOSI, unaligned features, MMSA's pre-extracted text features)::

    data:
      name: mmsa
      path: MOSI/Processed/unaligned_50.pkl
      variant: mosi            # mosi | mosei | sims: the label range and its check
      trust_pickle: true       # pickles run code: read only files from a source you trust
    eval:
      metrics: [acc2_nonzero, f1_nonzero, acc2_nonneg, f1_nonneg, acc5, acc7, mae, pearson]

Modalities (one sample; the file's layout: :mod:`polymodal.data.formats.mmsa_pickle`):

- ``text``: with ``text: features`` (default) the per-token vectors ``[T, Dt]`` float32 (BERT
  768-d in MMSA 2's files; GloVe 300-d in older ones); with ``text: bert_ids`` the BERT token
  ids int64 ``[L]`` where the attention mask is 1 (kind ``text``, ``vocab_size`` the largest
  id + 1 unless given, pad 0).
- ``audio`` ``[Ta, Da]`` and ``vision`` ``[Tv, Dv]`` float32.

Feature sequences have kind ``audio`` (a float sequence ``[T, D]``: the layout the sequence
encoders ``audio_conv`` / ``audio_gru``, the collator and the perturbations read); ``meta``
says what they are. Conventions, as MMSA's own loader:

- **Padding and lengths.** An unaligned file's ``audio_lengths`` / ``vision_lengths`` give each
  sample's true length: the first ``length`` steps are kept (MMSA's features come first, zeros
  after); a length of 0 makes the modality missing for that sample. Aligned files (no lengths)
  keep the stored, word-aligned length (50 for MOSI / MOSEI), as MMSA feeds them.
- **Cleaning.** Non-finite feature values (``-inf`` in COVAREP audio, NaN) become 0; how many
  is recorded in each modality's ``meta["non_finite_zeroed"]``.
- **time_mean.** ``time_mean: true`` averages audio and vision over the stored time axis,
  padding included (MMSA's ``need_normalized``, used by its TFN / LMF settings): ``[1, D]``.
- **Labels.** ``regression_labels`` (or ``label: regression_labels_T`` etc. for SIMS' unimodal
  labels): one float per sample, a regression task with one output; every label must be finite
  and inside the variant's range ([-3, 3] MOSI / MOSEI, [-1, 1] SIMS).
- **Splits** are the file's (``valid`` is ``val``); ids must be unique over the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from polymodal.data.bundle import DataBundle, ListDataset
from polymodal.data.formats.mmsa_pickle import SPLIT_KEYS, read_mmsa_pickle
from polymodal.data.schema import DatasetInfo, ModalitySpec, Sample, TaskSpec
from polymodal.errors import DataError
from polymodal.registry import DATASETS

Variant = Literal["mosi", "mosei", "sims"]
LABEL_RANGES: dict[str, tuple[float, float]] = {
    "mosi": (-3.0, 3.0),
    "mosei": (-3.0, 3.0),
    "sims": (-1.0, 1.0),
}
"""The documented sentiment range of each variant's labels."""

_FEATURES = {"text": "word vectors", "audio": "acoustic features", "vision": "facial features"}


@dataclass
class _Options:
    where: str
    variant: Variant
    text: Literal["features", "bert_ids"]
    label: str
    time_mean: bool


def _clean(values: np.ndarray) -> tuple[np.ndarray, int]:
    """float32 copy of ``values`` with NaN and +-inf set to 0, and how many were."""
    out = np.asarray(values, dtype=np.float32).copy()
    bad = ~np.isfinite(out)
    out[bad] = 0.0
    return out, int(bad.sum())


def _lengths(split: dict[str, Any], key: str, steps: int, at: str) -> np.ndarray | None:
    """``key``'s lengths as int ``[N]`` in ``[0, steps]``, or None when the file has none."""
    if key not in split:
        return None
    raw = np.asarray(split[key]).reshape(-1)
    lengths = np.rint(raw.astype(np.float64)) if raw.dtype.kind == "f" else raw
    bad = np.flatnonzero(~np.isfinite(raw.astype(np.float64)) | (lengths < 0) | (lengths > steps))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{key}[{i}] = {raw[i].item()!r} is not a length in [0, {steps}] ({bad.size} such)",
            where=f"{at}, key {key!r}",
            fix="use the MMSA file unchanged: lengths count the stored time steps",
        )
    return lengths.astype(np.int64)


def _labels(split: dict[str, Any], o: _Options, at: str, ids: list[str]) -> np.ndarray:
    if o.label not in split:
        raise DataError(
            f"label key {o.label!r} not found (keys: {sorted(map(str, split))})",
            where=at,
            fix="set data.label to one of the file's label keys (e.g. regression_labels)",
        )
    y = np.asarray(split[o.label], dtype=np.float64).reshape(-1)
    low, high = LABEL_RANGES[o.variant]
    bad = np.flatnonzero(~np.isfinite(y) | (y < low) | (y > high))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{bad.size} label(s) outside {o.variant}'s range [{low:g}, {high:g}]; first: row "
            f"{i} (id {ids[i]!r}) = {y[i].item()!r}",
            where=f"{at}, key {o.label!r}",
            fix="set data.variant to the file's dataset (mosi, mosei or sims)",
        )
    return y.astype(np.float32)


def _sequences(
    split: dict[str, Any], key: str, o: _Options, at: str
) -> tuple[list[torch.Tensor | None], int]:
    """One ``[T, D]`` tensor per sample (None when its length is 0), and the values zeroed."""
    values, zeroed = _clean(split[key])  # [N, T, D]
    if o.time_mean and key != "text":
        values = values.mean(axis=1, keepdims=True)  # [N, 1, D], padding included as MMSA
        lengths = None
    else:
        lengths = _lengths(split, f"{key}_lengths", values.shape[1], at)
    out: list[torch.Tensor | None] = []
    for i in range(values.shape[0]):
        n = values.shape[1] if lengths is None else int(lengths[i])
        out.append(torch.from_numpy(values[i, :n].copy()) if n > 0 else None)
    return out, zeroed


def _bert_ids(split: dict[str, Any], at: str) -> list[torch.Tensor | None]:
    """BERT ids where the attention mask is 1, int64 ``[L]`` per sample."""
    bert = np.asarray(split["text_bert"], dtype=np.float64)  # [N, 3, T]
    ids, mask = bert[:, 0], bert[:, 1]
    if not np.isfinite(bert[:, :2]).all() or (ids < 0).any() or (ids != np.rint(ids)).any():
        raise DataError(
            "text_bert ids are not non-negative integers",
            where=f"{at}, key 'text_bert'",
            fix="use the MMSA file unchanged ([N, 3, T]: ids, mask, segments)",
        )
    out: list[torch.Tensor | None] = []
    for row, keep in zip(ids, mask, strict=True):
        tokens = row[keep > 0.5].astype(np.int64)
        out.append(torch.from_numpy(tokens) if tokens.size else None)
    return out


@dataclass
class _Split:
    samples: list[Sample]
    specs: dict[str, ModalitySpec]
    zeroed: dict[str, int]
    max_id: int


def _read_split(split: dict[str, Any], name: str, o: _Options) -> _Split:
    at = f"{o.where}, split {name!r}"
    ids = [str(i) for i in np.asarray(split["id"]).reshape(-1)]
    target = _labels(split, o, at, ids)
    inputs: dict[str, list[torch.Tensor | None]] = {}
    specs: dict[str, ModalitySpec] = {}
    zeroed: dict[str, int] = {}
    max_id = -1
    if o.text == "bert_ids":
        if "text_bert" not in split:
            raise DataError(
                "text: bert_ids needs the key 'text_bert', which this file lacks",
                where=at,
                fix="set data.text: features (the file's word vectors)",
            )
        inputs["text"] = _bert_ids(split, at)
        max_id = max((int(t.max()) for t in inputs["text"] if t is not None), default=-1)
    elif "text" not in split:
        raise DataError(
            "text: features needs the key 'text', which this file lacks",
            where=at,
            fix="set data.text: bert_ids (the file's BERT token ids)",
        )
    for key in ("text", "audio", "vision"):
        if key in inputs:
            continue
        inputs[key], zeroed[key] = _sequences(split, key, o, at)
        width = int(np.shape(split[key])[2])
        meta = {"features": _FEATURES[key], "source": "mmsa"}
        specs[key] = ModalitySpec(key, "audio", (-1, width), meta=meta)
    samples = [
        Sample(ids[i], {k: v[i] for k, v in inputs.items()}, torch.tensor([target[i]]))
        for i in range(len(ids))
    ]
    return _Split(samples, specs, zeroed, max_id)


def _check_ids(splits: dict[str, _Split], where: str) -> None:
    seen: dict[str, str] = {}
    dupes: list[str] = []
    for name, s in splits.items():
        for sample in s.samples:
            if sample.id in seen:
                dupes.append(f"{sample.id!r} ({seen[sample.id]} and {name})")
            seen.setdefault(sample.id, name)
    if dupes:
        raise DataError(
            f"{len(dupes)} duplicate id(s): {', '.join(dupes[:5])}",
            where=f"{where}, key 'id'",
            fix="use the MMSA file unchanged: clip ids are unique over its splits",
        )


def _text_spec(
    o: _Options, splits: dict[str, _Split], vocab_size: int | None, state: dict[str, Any] | None
) -> ModalitySpec:
    max_id = max(s.max_id for s in splits.values())
    size = vocab_size or (state or {}).get("vocab_size") or max_id + 1
    if max_id >= size:
        raise DataError(
            f"token id {max_id} is outside the vocabulary of {size} ids",
            where=f"{o.where}, key 'text_bert'",
            fix="raise data.vocab_size to the BERT vocabulary's size (30522 for "
            "bert-base-uncased, 21128 for bert-base-chinese)",
        )
    return ModalitySpec("text", "text", (-1,), vocab_size=int(size), pad_id=0)


@DATASETS.register("mmsa")
def mmsa_dataset(
    *,
    seed: int,
    state: dict[str, Any] | None = None,
    path: str | Path,
    variant: Variant,
    trust_pickle: bool = False,
    text: Literal["features", "bert_ids"] = "features",
    label: str = "regression_labels",
    time_mean: bool = False,
    vocab_size: int | None = None,
    name: str | None = None,
) -> DataBundle:
    """CMU-MOSI, CMU-MOSEI or CH-SIMS from an MMSA feature pickle (polymodal.data.formats.mmsa).

    Args:
        seed: unused (the file fixes the splits). Injected.
        state: an earlier build's state (the BERT vocabulary size).
        path: ``aligned_50.pkl`` / ``unaligned_50.pkl`` (MOSI, MOSEI), ``unaligned_39.pkl``
            (SIMS).
        variant: ``mosi``, ``mosei`` or ``sims``: the labels' range, checked.
        trust_pickle: must be True: a pickle can run code, so it is read only when asked.
        text: ``features`` (word vectors ``[T, Dt]``) or ``bert_ids`` (token ids ``[L]``).
        label: the label key (``regression_labels``; SIMS: also ``regression_labels_T`` etc.).
        time_mean: average audio and vision over time (MMSA's ``need_normalized``).
        vocab_size: the BERT vocabulary's size for ``bert_ids`` (default: largest id + 1).
        name: the dataset's name (default: the variant).

    Raises:
        ConfigError: ``trust_pickle`` is not True. DataError: see
        :func:`~polymodal.data.formats.mmsa_pickle.read_mmsa_pickle`, labels out of range,
        bad lengths or token ids, duplicate ids.
    """
    del seed
    where = str(path)
    o = _Options(where, variant, text, label, time_mean)
    data = read_mmsa_pickle(path, trust=trust_pickle)
    splits = {ours: _read_split(data[key], key, o) for key, ours in SPLIT_KEYS.items()}
    _check_ids(splits, where)
    train = splits["train"]
    specs = dict(train.specs)
    if text == "bert_ids":
        specs = {"text": _text_spec(o, splits, vocab_size, state), **specs}
    for key, spec in specs.items():
        total = sum(s.zeroed.get(key, 0) for s in splits.values())
        if spec.kind != "text":
            spec.meta["non_finite_zeroed"] = total
    info = DatasetInfo(
        name=name or variant,
        modalities=specs,
        task=TaskSpec("regression", 1, target_names=(label,)),
        description=f"MMSA {variant} features from {where} "
        f"({', '.join(f'{k} {len(s.samples)}' for k, s in splits.items())})",
    )
    out_state = {"vocab_size": specs["text"].vocab_size} if text == "bert_ids" else {}
    return DataBundle(
        info=info,
        splits={k: ListDataset(s.samples) for k, s in splits.items()},
        state=out_state,
    )
