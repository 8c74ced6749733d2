"""Property-based tests of the manifest parser and the ``manifest`` dataset builder.

On any rows, values and column names, :func:`~polymodal.data.manifest.read_manifest` and the
builder either succeed, with results that keep every row accounted for, or raise a
:class:`~polymodal.errors.PolymodalError`; never another exception.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability_corpus import build, write_manifest, write_media

from polymodal.data.collate import collate_samples
from polymodal.data.loaders.tabular import load_tabular
from polymodal.data.manifest import read_manifest
from polymodal.errors import DataError, PolymodalError

T = TypeVar("T")
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run: no flaky suite
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def outcome(function: Callable[[], T]) -> tuple[T | None, PolymodalError | None]:
    """``(result, None)``, or ``(None, error)`` for a PolymodalError; other errors propagate."""
    try:
        return function(), None
    except PolymodalError as error:
        return None, error


# ------------------------------------------------------------------------- read_manifest (JSONL)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities included: Python's json writes and reads them
    | st.text(max_size=6)
    | st.sampled_from(["", " ", "0", "NaN"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
column_names = st.text(max_size=6) | st.sampled_from(["id", "split", "label", "x", ""])
json_rows = st.lists(st.dictionaries(column_names, json_values, max_size=5), max_size=5)


def _canonical(value: Any) -> str:
    """JSON text of a value, so NaN compares equal to NaN."""
    return json.dumps(value)


@SETTINGS
@given(rows=json_rows, blank_lines=st.booleans(), stray=st.none() | json_values)
def test_read_jsonl_succeeds_or_raises_a_data_error(
    rows: list[dict[str, Any]], blank_lines: bool, stray: Any
) -> None:
    middle = len(rows) // 2
    lines = [*rows[:middle], *([] if stray is None else [stray]), *rows[middle:]]
    text = ("\n\n" if blank_lines else "\n").join(json.dumps(v) for v in lines) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.jsonl"
        path.write_text(text, encoding="utf-8")
        result, error = outcome(lambda: read_manifest(path))
    # an error exactly when there is no row, or a line that is not an object
    valid = bool(lines) and all(isinstance(v, dict) for v in lines)
    assert (error is None) == valid, error
    if error is not None:
        assert isinstance(error, DataError)
        assert error.where == str(path)
        return
    assert result is not None
    got, columns = result
    assert columns == list(dict.fromkeys(k for row in lines for k in row))
    expected = [{c: None if row.get(c) == "" else row.get(c) for c in columns} for row in lines]
    assert _canonical(got) == _canonical(expected)


# --------------------------------------------------------------------------- read_manifest (CSV)

csv_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufeff"), max_size=6
)


@SETTINGS
@given(
    header=st.lists(csv_text, min_size=1, max_size=4),
    cells=st.lists(st.lists(csv_text, min_size=0, max_size=5), max_size=4),
)
def test_read_csv_succeeds_or_raises_a_data_error(
    header: list[str], cells: list[list[str]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(cells)
        result, error = outcome(lambda: read_manifest(path))
    kept = [r for r in cells if r]  # the csv module skips empty lines
    table = len(set(header)) == len(header) and all(len(r) == len(header) for r in kept)
    if error is not None:
        assert isinstance(error, DataError)
        assert error.where == str(path)
        assert not (table and kept), error  # only a ragged, duplicated or empty table fails
        return
    assert result is not None
    rows, columns = result
    if table:  # a rectangular table with a unique header reads back cell for cell ("" -> None)
        assert columns == header
        assert rows == [{h: c or None for h, c in zip(header, r, strict=True)} for r in kept]


# ---------------------------------------------------------------------------- tabular cells

numeric_cells = st.one_of(
    st.integers(),
    st.integers(min_value=10**38, max_value=10**400).map(lambda v: -v if v % 2 else v),
    st.floats(),
    st.floats(min_value=1e37, max_value=1e300),
    st.from_regex(r"\s?-?[0-9]{1,3}(\.[0-9]*)?(e[-+]?[0-9]{1,3})?\s?", fullmatch=True),
    st.sampled_from(["nan", "-inf", "Infinity", "1_000", "0x10", "", " "]),
    st.text(max_size=4),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=1),
)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _reference_number(value: Any) -> float | None:
    """The documented reading of a tabular cell, or None when it must be refused."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, bool | int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        return None
    return number if math.isfinite(number) and abs(number) <= FLOAT32_MAX else None


@settings(SETTINGS, max_examples=300)
@given(values=st.lists(numeric_cells, min_size=1, max_size=3))
def test_tabular_cells_are_finite_float32_numbers_or_a_data_error(values: list[Any]) -> None:
    columns = [f"f{i}" for i in range(len(values))]
    row = dict(zip(columns, values, strict=True))
    result, error = outcome(lambda: load_tabular(row, columns))
    reference = [_reference_number(v) for v in values]
    if None in reference:
        assert isinstance(error, DataError)
        first_bad = columns[reference.index(None)]
        assert f"column {first_bad!r}" in error.what  # the first refused column is named
        assert error.fix
        return
    assert error is None, error
    assert result is not None
    assert torch.isfinite(result).all()
    assert torch.equal(result, torch.tensor(reference, dtype=torch.float32))


# -------------------------------------------------------------------------------- the builder

# Rows are mostly good (each cell drawn from the values its column should hold) and some rows
# get one odd cell: a broken or escaping file, a value of another type, NaN, a huge number, an
# unknown split or label, a duplicate id, or no value at all.
MEDIA_FILES = [
    "trunc.png",
    "zero.jpg",
    "nope.png",
    "folder",
    "loop_a",
    "escape.png",
    "../outside/secret.png",
    "trunc.wav",
    "noise.wav",
    "latin1.txt",
    "ok.png",
    "ok.wav",
    "ok.txt",
]
odd_cells = st.one_of(
    st.sampled_from(MEDIA_FILES),
    st.sampled_from(["val", "test", "dev", "Train ", "other", "x;y", "z", "-3", "", "r0"]),
    st.sampled_from([None, True, [], ["x", 1], {"a": 1}, "NaN", "1e400", " ", "\0"]),
    st.sampled_from([10**400, -(10**30), 1e300, -1e39, math.nan, math.inf]),
    st.integers() | st.floats(width=32) | st.text(max_size=4),
)
numbers_ = st.integers(-5, 5) | st.floats(-10, 10, width=32) | st.sampled_from(["1.5", " -2 "])
GOOD_X = {
    "image": st.sampled_from(["ok.png", "ok.jpg"]),
    "audio": st.sampled_from(["ok.wav", "r16k.wav", "stereo.wav"]),
    "text": st.sampled_from(["a red dog", "blue", " "]),
    "text_file": st.sampled_from(["ok.txt", "empty.txt"]),
    "tabular": st.just(None),
    "text_and_tabular": st.sampled_from(["a red dog", "blue"]),
}
GOOD_LABEL = {
    "multiclass": st.sampled_from(["x", "y"]),
    "multilabel": st.sampled_from(["x", "y", "x;y", ""]) | st.just(["y"]),
    "regression": numbers_,
}
MODALITIES = {
    "image": {"x": {"kind": "image", "size": [3, 3], "channels": 1}},
    "audio": {"x": {"kind": "audio", "sample_rate": 8000, "n_mels": 4}},
    "text": {"x": {"kind": "text", "max_length": 4}},
    "text_file": {"x": {"kind": "text", "text_is_path": True, "tokenizer": "char"}},
    "tabular": {"t": {"kind": "tabular", "columns": ["f1", "f2"]}},
    "text_and_tabular": {
        "x": {"kind": "text", "max_length": 4},
        "t": {"kind": "tabular", "columns": ["f1", "f2"]},
    },
}
LABELS = {"multiclass": "label", "multilabel": "label", "regression": ["f1"]}
COLUMNS = ["id", "split", "label", "x", "f1", "f2"]


@st.composite
def manifests(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str, str]:
    """``(rows, modalities key, task)``: mostly good rows, some with one odd cell."""
    modalities = draw(st.sampled_from(sorted(MODALITIES)))
    task = draw(st.sampled_from(sorted(LABELS)))
    rows = []
    for i in range(draw(st.integers(1, 7))):
        row = {
            "id": f"r{i}",
            "split": draw(st.sampled_from(["train", "train", "train", "val", "test"])),
            "label": draw(GOOD_LABEL[task]),
            "x": draw(GOOD_X[modalities]),
            "f1": draw(numbers_),
            "f2": draw(numbers_),
        }
        if draw(st.integers(0, 9)) < 3:  # one odd cell, or one absent column
            column = draw(st.sampled_from(COLUMNS))
            if draw(st.integers(0, 9)) == 0:
                del row[column]
            else:
                row[column] = draw(odd_cells)
        rows.append(row)
    return rows, modalities, task


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The media corpus, written once for every example of the module."""
    return write_media(tmp_path_factory.mktemp("manifest_properties") / "data")


def _check_target(target: torch.Tensor, task: str, n: int) -> None:
    if task == "multiclass":
        assert target.dtype == torch.int64
        assert target.shape == ()
        assert 0 <= int(target) < n
    elif task == "multilabel":
        assert target.shape == (n,)
        assert set(target.tolist()) <= {0.0, 1.0}
    else:
        assert target.shape == (n,)
        assert torch.isfinite(target).all()


def _check_bundle(bundle: Any, rows: list[dict[str, Any]], bad_rows: str) -> None:
    """Every row kept once or skipped with a reason; targets and inputs fit the specs."""
    info = bundle.info
    kept = [s for name in ("train", "val", "test") for s in bundle.splits[name]]
    ids = [s.id for s in kept]
    assert len(set(ids)) == len(ids)
    assert len(kept) + len(bundle.skipped) == len(rows)
    if bad_rows == "error":
        assert bundle.skipped == []
    assert all(s.reason and s.field for s in bundle.skipped)
    assert len(bundle.splits["train"]) > 0
    for sample in kept:
        _check_target(sample.target, info.task.type, info.task.num_outputs)
        for name, value in sample.inputs.items():
            if value is None:
                continue
            shape = info.modalities[name].shape
            assert value.ndim == len(shape)
            assert all(d in (-1, g) for d, g in zip(shape, value.shape, strict=True))
            assert torch.isfinite(value.float()).all()
    for split in bundle.splits.values():
        if len(split) > 0:  # every split collates into a batch of the declared modalities
            batch = collate_samples(list(split), info.modalities)
            assert batch.ids == [s.id for s in split]


@SETTINGS
@given(
    manifest=manifests(),
    bad_rows=st.sampled_from(["error", "skip"]),
    suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]),
    fixed_classes=st.booleans(),
)
def test_manifest_builder_succeeds_or_raises_a_polymodal_error(
    corpus: Path,
    manifest: tuple[list[dict[str, Any]], str, str],
    bad_rows: str,
    suffix: str,
    fixed_classes: bool,
) -> None:
    rows, modalities, task = manifest
    if suffix == ".parquet":  # one type per column: every cell as text (as CSV cells are)
        rows = [{k: None if v is None else str(v) for k, v in r.items()} for r in rows]
    path = write_manifest(rows, corpus / f"m{suffix}")
    params: dict[str, Any] = {
        "modalities": MODALITIES[modalities],
        "label": LABELS[task],
        "task": task,
        "bad_rows": bad_rows,
    }
    if fixed_classes and task != "regression":
        params["classes"] = ["x", "y"]
    bundle, error = outcome(lambda: build(path, **params))
    event("built" if error is None else f"refused: {type(error).__name__}")
    if error is not None:
        assert str(error)  # a message a user can read
        return
    _check_bundle(bundle, rows, bad_rows)
