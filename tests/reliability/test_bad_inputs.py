"""The bad-input corpus against the manifest dataset and its loaders.

Every bad input must give a :class:`~polymodal.errors.PolymodalError` whose message names the
manifest, the row, the field (and the file) and says how to fix it, or, under ``bad_rows="skip"``,
a :class:`~polymodal.data.bundle.SkippedRow` with the row's id and the reason; never a raw
exception of another type. Inputs that are unusual but valid (other sample rates, stereo, empty
text) must give the values a reference computation gives.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch
from reliability_corpus import OK_WAV_RATE, build, stereo_frames, tone, write_manifest
from scipy.signal import resample_poly

from polymodal.data.bundle import SkippedRow
from polymodal.data.loaders.audio import load_audio
from polymodal.data.transforms.audio import LogMelSpectrogram
from polymodal.errors import ConfigError, DataError, PolymodalError
from polymodal.registry import DATASETS

IMAGE = {"kind": "image", "size": [4, 4]}
AUDIO = {"kind": "audio", "sample_rate": OK_WAV_RATE, "n_mels": 8}
TEXT = {"kind": "text"}
TEXT_FILE = {"kind": "text", "text_is_path": True}
TAB = {"kind": "tabular", "columns": ["f1", "f2"]}
GOOD_CELLS = {
    "image": {"x": "ok.png"},
    "audio": {"x": "ok.wav"},
    "text": {"x": "hello world"},
    "text_file": {"x": "ok.txt"},
    "tabular": {"f1": 1.5, "f2": -2},
}
MODALITY = {"image": IMAGE, "audio": AUDIO, "text": TEXT, "text_file": TEXT_FILE, "tabular": TAB}


@dataclass(frozen=True)
class BadRow:
    """One bad row (row 3 of a manifest whose rows 1-2, ids a and b, are good).

    Attributes:
        kind: key of :data:`MODALITY`: the manifest's one modality, named ``x``.
        cells: the bad row's cells (over the good cells of ``kind``).
        field: the field the error must name.
        reason: regular expression the reason must match.
        path: the path the error must name (None: no file involved).
        row_id: the id the error must name.
        split: the split the skipped row must record.
        params: extra builder parameters.
    """

    kind: str
    cells: dict[str, Any]
    field: str
    reason: str
    path: str | None = None
    row_id: str = "bad"
    split: str | None = "train"
    params: dict[str, Any] = field(default_factory=dict)


_NOT_FINITE = r"column 'f1': value .* is not finite \(NaN or infinite\)"
_BEYOND_FLOAT32 = r"column 'f1': value 1000000000.*\.\.\. is beyond the float32 range"
BAD_ROWS: dict[str, BadRow] = {
    # images
    "truncated_png": BadRow(
        "image", {"x": "trunc.png"}, "x", r"cannot decode image \(.*truncated", "trunc.png"
    ),
    "truncated_jpeg": BadRow(
        "image", {"x": "trunc.jpg"}, "x", r"cannot decode image \(.*Truncated", "trunc.jpg"
    ),
    "zero_byte_png": BadRow(
        "image", {"x": "zero.png"}, "x", r"image file is empty \(0 bytes\)", "zero.png"
    ),
    "zero_byte_jpeg": BadRow(
        "image", {"x": "zero.jpg"}, "x", r"image file is empty \(0 bytes\)", "zero.jpg"
    ),
    "missing_image": BadRow("image", {"x": "nope.png"}, "x", "image file not found", "nope.png"),
    "directory_as_image": BadRow("image", {"x": "folder"}, "x", "Is a directory", "folder"),
    "list_as_path": BadRow(
        "image", {"x": ["ok.png"]}, "x", r"expected a file path \(text\), got list"
    ),
    "number_as_path": BadRow("image", {"x": 7}, "x", r"expected a file path \(text\), got int"),
    "mapping_as_path": BadRow(
        "image", {"x": {"p": "ok.png"}}, "x", r"expected a file path \(text\), got dict"
    ),
    "bool_as_path": BadRow("image", {"x": True}, "x", r"expected a file path \(text\), got bool"),
    "nul_byte_in_path": BadRow(
        "image", {"x": "ok\0.png"}, "x", "not a usable file path .*null byte", "ok\0.png"
    ),
    "lone_surrogate_in_path": BadRow(
        "image", {"x": "\ud800.png"}, "x", "not a usable file path .*surrogate", "\ud800.png"
    ),
    "symlink_loop": BadRow(
        "image", {"x": "loop_a"}, "x", r"(?i)symlink loop|symbolic links", "loop_a"
    ),
    # audio
    "truncated_wav": BadRow(
        "audio", {"x": "trunc.wav"}, "x", r"audio file is truncated: .* declares", "trunc.wav"
    ),
    "zero_byte_wav": BadRow(
        "audio", {"x": "zero.wav"}, "x", r"audio file is empty \(0 bytes\)", "zero.wav"
    ),
    "not_audio_wav": BadRow(
        "audio",
        {"x": "noise.wav"},
        "x",
        r"cannot decode audio file \(.*not recognised",
        "noise.wav",
    ),
    "header_only_wav": BadRow(
        "audio", {"x": "header.wav"}, "x", r"cannot decode audio file \(.*data", "header.wav"
    ),
    "missing_wav": BadRow("audio", {"x": "nope.wav"}, "x", "audio file not found", "nope.wav"),
    # text
    "non_utf8_text_file": BadRow(
        "text_file",
        {"x": "latin1.txt"},
        "x",
        r"text file is not valid UTF-8 \(invalid byte at offset 3\)",
        "latin1.txt",
    ),
    "missing_text_file": BadRow(
        "text_file", {"x": "nope.txt"}, "x", "text file not found", "nope.txt"
    ),
    "directory_as_text_file": BadRow(
        "text_file", {"x": "folder"}, "x", r"cannot read text file \(Is a directory\)", "folder"
    ),
    "number_as_text": BadRow("text", {"x": 5}, "x", "expected text, got int 5"),
    "list_as_text": BadRow("text", {"x": ["a"]}, "x", r"expected text, got list \['a'\]"),
    # tabular
    "nan_text_in_tabular": BadRow("tabular", {"f1": "NaN"}, "f1", _NOT_FINITE),
    "inf_text_in_tabular": BadRow("tabular", {"f1": "inf"}, "f1", _NOT_FINITE),
    "minus_infinity_in_tabular": BadRow("tabular", {"f1": "-Infinity"}, "f1", _NOT_FINITE),
    "json_nan_in_tabular": BadRow("tabular", {"f1": math.nan}, "f1", _NOT_FINITE),
    "overflowing_text_in_tabular": BadRow("tabular", {"f1": "1e400"}, "f1", _NOT_FINITE),
    "huge_int_in_tabular": BadRow("tabular", {"f1": 10**400}, "f1", _BEYOND_FLOAT32),
    "float64_beyond_float32_in_tabular": BadRow(
        "tabular", {"f1": -1e300}, "f1", r"value -1e\+300 is beyond the float32 range"
    ),
    "word_in_tabular": BadRow(
        "tabular", {"f1": "abc"}, "f1", "expected a number, got the text 'abc'"
    ),
    "list_in_tabular": BadRow("tabular", {"f1": [1]}, "f1", r"expected a number, got list \[1\]"),
    "partly_empty_tabular": BadRow("tabular", {"f2": None}, "f2", "partly empty"),
    # labels, ids, splits
    "unknown_label_of_fixed_set": BadRow(
        "text",
        {"label": "z"},
        "label",
        r"unknown label 'z' \(known: x, y\)",
        params={"classes": ["x", "y"]},
    ),
    "list_as_label": BadRow(
        "text", {"label": [1]}, "label", "expected a class name or integer label"
    ),
    "nan_as_label": BadRow("text", {"label": math.nan}, "label", "class name or integer label"),
    "empty_label": BadRow("text", {"label": None}, "label", "the label is empty"),
    "regression_target_beyond_float32": BadRow(
        "text",
        {"label": "4e38"},
        "label",
        "value '4e38' is beyond the float32 range",
        params={"task": "regression"},
    ),
    "duplicate_id": BadRow(
        "text", {"id": "a"}, "id", r"duplicate id \(first at row 1\)", row_id="a"
    ),
    "list_as_id": BadRow(
        "text", {"id": [1]}, "id", "expected a string or integer id", None, "row 3"
    ),
    "float_as_id": BadRow(
        "text", {"id": 1.5}, "id", "expected a string or integer id", None, "row 3"
    ),
    "unknown_split": BadRow(
        "text", {"split": "training"}, "split", "unknown split 'training'", split=None
    ),
}
# cases whose bad cell a CSV (all cells text) or a Parquet file (typed columns) can hold too
PORTABLE = [
    "truncated_png",
    "zero_byte_wav",
    "non_utf8_text_file",
    "nan_text_in_tabular",
    "word_in_tabular",
    "partly_empty_tabular",
    "unknown_label_of_fixed_set",
    "duplicate_id",
    "unknown_split",
]


def _rows(case: BadRow) -> list[dict[str, Any]]:
    base = {"split": "train", **GOOD_CELLS[case.kind]}
    x, y = ("1.5", "-2") if case.params.get("task") == "regression" else ("x", "y")
    return [
        {"id": "a", **base, "label": x},
        {"id": "b", **base, "label": y},
        {"id": "bad", **base, "label": x, **case.cells},
    ]


def _as_text_cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every non-null cell as text, so a Parquet column has one type."""
    return [{k: None if v is None else str(v) for k, v in row.items()} for row in rows]


def _build_case(case: BadRow, manifest: Path, bad_rows: str) -> Any:
    return build(
        manifest,
        modalities={"x": MODALITY[case.kind]},
        label="label",
        val_fraction=0.0,
        bad_rows=bad_rows,
        **case.params,
    )


def _check_error(error: DataError, case: BadRow, manifest: Path) -> None:
    message = str(error)
    assert str(manifest) in message
    path = f", path {case.path!r}" if case.path else ""
    line = next(
        (ln for ln in message.splitlines() if ln.startswith(f"  - row 3 (id {case.row_id!r})")),
        None,
    )
    assert line is not None, message
    assert line.startswith(f"  - row 3 (id {case.row_id!r}), field {case.field!r}{path}: "), line
    assert re.search(case.reason, line), (case.reason, line)
    assert "fix: correct or remove these rows, or set bad_rows: skip" in message
    assert message.count("\n  - row") == 1  # only the bad row


def _check_skipped(bundle: Any, case: BadRow) -> None:
    assert len(bundle.skipped) == 1, bundle.skipped
    skipped = bundle.skipped[0]
    assert isinstance(skipped, SkippedRow)
    assert (skipped.id, skipped.split, skipped.field, skipped.path) == (
        case.row_id,
        case.split,
        case.field,
        case.path,
    )
    assert re.search(case.reason, skipped.reason), (case.reason, skipped.reason)
    kept = sorted(s.id for split in bundle.splits.values() for s in split)
    assert kept == ["a", "b"]


@pytest.mark.parametrize("policy", ["error", "skip"])
@pytest.mark.parametrize("name", list(BAD_ROWS))
def test_bad_row_in_jsonl(media: Path, name: str, policy: str) -> None:
    case = BAD_ROWS[name]
    manifest = write_manifest(_rows(case), media / "m.jsonl")
    if policy == "error":
        with pytest.raises(DataError) as info:
            _build_case(case, manifest, "error")
        _check_error(info.value, case, manifest)
    else:
        _check_skipped(_build_case(case, manifest, "skip"), case)


@pytest.mark.parametrize("policy", ["error", "skip"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("name", PORTABLE)
def test_bad_row_in_csv_and_parquet(media: Path, name: str, suffix: str, policy: str) -> None:
    case = BAD_ROWS[name]
    manifest = write_manifest(_as_text_cells(_rows(case)), media / f"m{suffix}")
    if policy == "error":
        with pytest.raises(DataError) as info:
            _build_case(case, manifest, "error")
        _check_error(info.value, case, manifest)
    else:
        _check_skipped(_build_case(case, manifest, "skip"), case)


# ---------------------------------------------------------------------- paths leaving the folder

ESCAPES = {
    "dotdot_image": (IMAGE, "../outside/secret.png"),
    "dotdot_text_file": (TEXT_FILE, "../outside/secret.txt"),
    "absolute_path_elsewhere": (IMAGE, "<outside>/secret.png"),
    "symlink_to_outside": (IMAGE, "escape.png"),
}


@pytest.mark.parametrize("policy", ["error", "skip"])
@pytest.mark.parametrize("name", list(ESCAPES))
def test_paths_escaping_the_folder_are_refused_whatever_the_policy(
    media: Path, name: str, policy: str
) -> None:
    modality, cell = ESCAPES[name]
    cell = cell.replace("<outside>", str(media.parent / "outside"))
    good = "ok.txt" if modality is TEXT_FILE else "ok.png"
    rows = [
        {"id": "a", "split": "train", "x": good, "label": "x"},
        {"id": "b", "split": "train", "x": good, "label": "y"},
        {"id": "bad", "split": "train", "x": cell, "label": "x"},
    ]
    manifest = write_manifest(rows, media / "m.jsonl")
    with pytest.raises(DataError) as info:
        build(manifest, modalities={"x": modality}, label="label", bad_rows=policy)
    message = str(info.value)
    assert message.startswith(f"{manifest}, row 3 (id 'bad'), field 'x', path {cell!r}: ")
    assert "leads outside the manifest's folder" in message
    assert str((media.parent / "outside").resolve()) in message  # where it resolves to
    assert "fix: keep data files inside the manifest's folder" in message


# --------------------------------------------------------- unusual but valid inputs, exact values


def _audio_sample(media: Path, file: str) -> torch.Tensor:
    rows = [
        {"id": "a", "split": "train", "x": "ok.wav", "label": "x"},
        {"id": "b", "split": "train", "x": file, "label": "y"},
    ]
    bundle = build(write_manifest(rows, media / "m.jsonl"), modalities={"x": AUDIO}, label="label")
    assert bundle.skipped == []
    samples = {s.id: s for split in bundle.splits.values() for s in split}
    return samples["b"].inputs["x"]


@pytest.mark.parametrize(
    ("file", "length", "rate"), [("r16k.wav", 1600, 16000), ("r44k.wav", 4410, 44100)]
)
def test_other_sample_rates_are_resampled(media: Path, file: str, length: int, rate: int) -> None:
    wave = load_audio(media / file, OK_WAV_RATE)
    up, down = OK_WAV_RATE // math.gcd(OK_WAV_RATE, rate), rate // math.gcd(OK_WAV_RATE, rate)
    assert wave.shape == (math.ceil(length * up / down),) == (800,)  # 0.1 s at 8 kHz
    source, file_rate = sf.read(media / file, dtype="float32")  # the PCM-16 tone, decoded
    assert file_rate == rate
    np.testing.assert_allclose(source, tone(length, rate), atol=1 / 32767)
    reference = resample_poly(source, up, down)
    np.testing.assert_allclose(wave.numpy(), reference, rtol=0, atol=1e-6)
    # the manifest's features are the log-mel of that waveform (25 ms window, 10 ms hop)
    features = LogMelSpectrogram(OK_WAV_RATE, n_mels=8, n_fft=200, hop_length=80)
    expected = features(torch.from_numpy(reference.astype(np.float32)))  # [T, M]
    got = _audio_sample(media, file)
    assert got.shape == (1 + 800 // 80, 8)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_stereo_wav_is_mixed_to_mono(media: Path) -> None:
    wave = load_audio(media / "stereo.wav", OK_WAV_RATE)
    mono = stereo_frames().mean(axis=1)  # [L]
    np.testing.assert_allclose(wave.numpy(), mono, rtol=0, atol=1e-7)
    features = LogMelSpectrogram(OK_WAV_RATE, n_mels=8, n_fft=200, hop_length=80)
    expected = features(torch.from_numpy(mono))
    torch.testing.assert_close(_audio_sample(media, "stereo.wav"), expected)


def test_empty_text_file_is_present_and_an_empty_cell_is_missing(media: Path) -> None:
    rows = [
        {"id": "a", "split": "train", "f": "ok.txt", "t": "red square", "label": "x"},
        {"id": "b", "split": "train", "f": "empty.txt", "t": "", "label": "y"},
        {"id": "c", "split": "train", "f": None, "t": " ", "label": "y"},
    ]
    bundle = build(
        write_manifest(rows, media / "m.jsonl"),
        modalities={"f": TEXT_FILE, "t": TEXT},
        label="label",
        val_fraction=0.0,
    )
    samples = {s.id: s for s in bundle.splits["train"]}
    assert bundle.skipped == []
    assert samples["b"].inputs["f"].tolist() == [1]  # no tokens: one <unk>, still present
    assert samples["b"].inputs["t"] is None  # empty cell: the modality is missing
    assert samples["c"].inputs["f"] is None
    assert samples["c"].inputs["t"].tolist() == [1]  # only spaces: present, no tokens


# ---------------------------------------------------------------- whole manifests that are bad


def _tab_rows() -> list[dict[str, Any]]:
    return [
        {"id": "a", "split": "train", "f1": 1, "f2": 2, "label": "x"},
        {"id": "b", "split": "train", "f1": 3, "f2": 4, "label": "y"},
    ]


def _raw(name: str, data: bytes | str | None) -> Any:
    def write(media: Path) -> Path:
        path = media / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        return path

    return write


def _rows_file(name: str, rows: list[dict[str, Any]]) -> Any:
    return lambda media: write_manifest(rows, media / name)


def _empty_parquet(media: Path) -> Path:
    path = media / "m.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string())}), path)
    return path


HEADER = "id,split,f1,f2,label\n"
BAD_MANIFESTS: dict[str, tuple[Any, dict[str, Any], str, str]] = {
    # name: (writer, builder params, message regex, fix regex)
    "missing_modality_column": (
        _rows_file("m.jsonl", _tab_rows()),
        {"modalities": {"t": {"kind": "tabular", "columns": ["f1", "f3"]}}},
        r"column\(s\) 'f3' not found \(available columns: id, split, f1, f2, label\)",
        "fix the column names in the config",
    ),
    "missing_label_column": (
        _rows_file("m.jsonl", _tab_rows()),
        {"label": "target"},
        r"column\(s\) 'target' not found",
        "fix the column names",
    ),
    "missing_id_column": (
        _rows_file("m.jsonl", _tab_rows()),
        {"id_column": "key"},
        "id column 'key' not found",
        "set id_column to one of the columns, or to null",
    ),
    "empty_jsonl": (_raw("m.jsonl", b""), {}, "manifest has no rows", "add one row per sample"),
    "blank_lines_jsonl": (
        _raw("m.jsonl", "\n \n\n"),
        {},
        "manifest has no rows",
        "add one row per sample",
    ),
    "empty_csv": (_raw("m.csv", b""), {}, "manifest has no rows", "add one row per sample"),
    "header_only_csv": (_raw("m.csv", HEADER), {}, "manifest has no rows", "add one row"),
    "empty_parquet_table": (_empty_parquet, {}, "manifest has no rows", "add one row"),
    "invalid_json_line": (
        _raw("m.jsonl", '{"id": "a"}\n{"id": \n'),
        {},
        r"line 2 is not valid JSON \(Expecting value\)",
        "write one JSON object per line",
    ),
    "json_array_line": (
        _raw("m.jsonl", "[1, 2]\n"),
        {},
        "line 1 is a JSON list, not an object",
        "write one object per line",
    ),
    "json_nested_too_deeply": (
        _raw("m.jsonl", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
        {},
        "line 1 is not valid JSON .*recursion",
        "write one JSON object per line",
    ),
    "json_integer_too_long": (
        _raw("m.jsonl", '{"a": ' + "9" * 5000 + "}\n"),
        {},
        "line 1 is not valid JSON .*digits",
        "write one JSON object per line",
    ),
    "non_utf8_jsonl": (
        _raw("m.jsonl", '{"id": "caf\xe9"}\n'.encode("latin-1")),
        {},
        r"manifest is not UTF-8: line 1, byte offset 11 in the line \(offset 11 in the file",
        "save the manifest as UTF-8",
    ),
    "non_utf8_csv": (
        _raw("m.csv", (HEADER + "caf\xe9,train,1,2,x\n").encode("latin-1")),
        {},
        "manifest is not UTF-8",
        "save the manifest as UTF-8",
    ),
    "csv_row_longer_than_header": (
        _raw("m.csv", HEADER + "a,train,1,2,x,extra\n"),
        {},
        "row 1 has more cells than the header has columns",
        "quote cells that contain commas",
    ),
    "csv_duplicate_header": (
        _raw("m.csv", "id,f1,f1,f2,label\na,1,2,3,x\n"),
        {},
        r"duplicate column names \['f1'\]",
        "unique, non-empty name",
    ),
    "csv_cell_over_size_limit": (
        _raw("m.csv", HEADER + "a,train," + "1" * 200_000 + ",2,x\n"),
        {},
        r"cannot parse CSV \(field larger than field limit",
        "check quoting and cell sizes",
    ),
    "parquet_of_garbage": (
        _raw("m.parquet", b"PAR1 but not really a parquet file"),
        {},
        "cannot read Parquet file",
        "complete Parquet file",
    ),
    "zero_byte_parquet": (_raw("m.parquet", b""), {}, "cannot read Parquet", "Parquet file"),
    "unsupported_suffix": (
        _raw("m.txt", "id,label\n"),
        {},
        "unsupported manifest format '.txt'",
        r"use one of: \.jsonl, \.ndjson, \.csv, \.parquet",
    ),
    "manifest_not_found": (_raw("nope.jsonl", None), {}, "manifest file not found", "check"),
    "every_row_bad_under_skip": (
        _rows_file("m.jsonl", [{**r, "f1": "?"} for r in _tab_rows()]),
        {"bad_rows": "skip"},
        "no usable training rows",
        "mark some rows as train, or check the rows left out as bad",
    ),
    "one_class_only": (
        _rows_file("m.jsonl", [{**r, "label": "x"} for r in _tab_rows()]),
        {},
        r"a multiclass task needs at least 2 classes, found \['x'\]",
        "check the label column",
    ),
}


@pytest.mark.parametrize("name", list(BAD_MANIFESTS))
def test_bad_manifest(media: Path, name: str) -> None:
    writer, params, message, fix = BAD_MANIFESTS[name]
    manifest = writer(media)
    kwargs: dict[str, Any] = {"modalities": {"t": TAB}, "label": "label", **params}
    with pytest.raises(DataError) as info:
        build(manifest, **kwargs)
    error = info.value
    assert error.where == str(manifest)
    assert re.search(message, error.what), error.what
    assert error.fix is not None
    assert re.search(fix, error.fix), error.fix
    assert str(error).startswith(f"{manifest}: ")


# ------------------------------------------------ builder parameters given directly from Python

BAD_PARAMS: dict[str, tuple[dict[str, Any], type[PolymodalError], str]] = {
    "unknown_task": ({"task": "ranking"}, ConfigError, r"task: expected one of .*'ranking'"),
    "unknown_bad_rows_policy": (
        {"bad_rows": "sometimes"},
        ConfigError,
        r"bad_rows: expected one of error, skip, got 'sometimes'",
    ),
    "unknown_modality_kind": (
        {"modalities": {"t": {"kind": "smell"}}},
        ConfigError,
        r"modalities\.t\.kind: Input should be",
    ),
    "option_of_another_kind": (
        {"modalities": {"t": {**TAB, "size": 4}}},
        ConfigError,
        "option\\(s\\) size do not apply to tabular modalities",
    ),
    "fractions_out_of_range": (
        {"split_column": None, "val_fraction": 0.7, "test_fraction": 0.5},
        DataError,
        "must be in \\[0, 1\\) and sum to less than 1",
    ),
    "state_not_a_mapping": ({"state": "abc"}, DataError, "the state is a str, not a mapping"),
    "state_of_another_task": (
        {"state": {"version": 1, "task": "regression"}},
        DataError,
        "not a manifest state for task 'multiclass'",
    ),
    "state_with_malformed_class_names": (
        {"state": {"version": 1, "task": "multiclass", "class_names": 5, "tokenizers": {}}},
        DataError,
        "the state is malformed",
    ),
    "state_with_malformed_tokenizers": (
        {"state": {"version": 1, "task": "multiclass", "class_names": ["x"], "tokenizers": 3}},
        DataError,
        "the state is malformed",
    ),
}


@pytest.mark.parametrize("name", list(BAD_PARAMS))
def test_bad_builder_parameters(media: Path, name: str) -> None:
    params, error_type, message = BAD_PARAMS[name]
    manifest = write_manifest(_tab_rows(), media / "m.jsonl")
    kwargs: dict[str, Any] = {"modalities": {"t": TAB}, "label": "label", **params}
    state = kwargs.pop("state", None)
    with pytest.raises(error_type) as info:
        DATASETS.create("manifest", seed=0, state=state, path=manifest, **kwargs)
    assert type(info.value) is error_type
    assert re.search(message, str(info.value)), str(info.value)
    assert info.value.fix


# --------------------------------------------------------- label names that only look numeric

LABEL_SETS = {
    "superscript_digit": (["²", "1"], ["1", "²"]),  # by code point: "²" is no ASCII digit
    "double_minus": (["--1", "1"], ["--1", "1"]),
    "integers_with_leading_zeros": (["10", "9", "-2", "007", "7"], ["-2", "007", "7", "9", "10"]),
    "integer_of_5000_digits": (["9" * 5000, "1"], ["1", "9" * 5000]),
}


@pytest.mark.parametrize("name", list(LABEL_SETS))
def test_label_names_are_sorted_without_error(media: Path, name: str) -> None:
    labels, expected = LABEL_SETS[name]
    rows = [
        {"id": f"r{i}", "split": "train", "f1": i, "f2": 0, "label": label}
        for i, label in enumerate(labels)
    ]
    bundle = build(write_manifest(rows, media / "m.jsonl"), modalities={"t": TAB}, label="label")
    assert list(bundle.info.task.class_names) == expected
    targets = {s.id: int(s.target) for split in bundle.splits.values() for s in split}
    assert targets == {f"r{i}": expected.index(label) for i, label in enumerate(labels)}
