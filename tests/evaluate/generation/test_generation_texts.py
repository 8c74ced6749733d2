"""Bad input: empty hypotheses scored, empty reference lists and non-UTF-8 text named by row."""

from __future__ import annotations

import json

import pytest

from polymodal.errors import DataError
from polymodal.evaluate.generation import check_texts, read_generation_file


def _write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def test_empty_and_whitespace_hypotheses_are_kept(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [
        {"id": 1, "hypothesis": "", "references": ["a dog"]},
        {"id": 2, "hypothesis": "  ", "references": "one reference as a string"},
        {"id": 3, "hypothesis": "猫", "references": ["猫", "一只猫"]},
    ]
    _write_jsonl(path, rows)
    table = read_generation_file(path)
    assert table["hypothesis"].tolist() == ["", "  ", "猫"]
    assert table["references"].tolist() == [
        ["a dog"],
        ["one reference as a string"],
        ["猫", "一只猫"],
    ]
    assert table["id"].tolist() == ["1", "2", "3"]


def test_empty_reference_list_names_the_row(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, [
        {"id": "a", "hypothesis": "x", "references": ["y"]},
        {"id": "b", "hypothesis": "x", "references": []},
    ])  # fmt: skip
    with pytest.raises(DataError, match=r"row 2 \(id 'b'\).*reference list is empty"):
        read_generation_file(path)
    with pytest.raises(DataError, match=r"row 1.*reference list is empty"):
        check_texts(["x"], [[]])


def test_non_utf8_jsonl_names_row_and_byte_offset(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    first = b'{"id": "a", "hypothesis": "ok", "references": ["y"]}\n'
    second = b'{"id": "b", "hypothesis": "caf\xe9", "references": ["y"]}\n'
    path.write_bytes(first + second)
    offset = len(first) + second.index(b"\xe9")
    with pytest.raises(DataError, match=rf"row 2: text is not UTF-8 at byte offset {offset} "):
        read_generation_file(path)


def test_non_utf8_parquet_cell_names_row_and_offset(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    hyps = pa.array([b"fine", b"bad \xff x"], type=pa.binary()).view(pa.string())
    table = pa.table({"id": ["1", "2"], "hypothesis": hyps, "references": [["r"], ["s"]]})
    pq.write_table(table, tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"row 2 \(id '2'\): text is not UTF-8 at byte offset 4"):
        read_generation_file(tmp_path / "p.parquet")


def test_missing_hypothesis_and_bytes_in_python(tmp_path) -> None:
    with pytest.raises(DataError, match=r"row 2.*hypothesis is NoneType"):
        check_texts(["a", None], [["a"], ["b"]])
    with pytest.raises(DataError, match=r"row 1.*byte offset 1"):
        check_texts([b"a\xff"], [["a"]])
    assert check_texts([b"caf\xc3\xa9"], [["cafe"]]) == (["café"], [["cafe"]])
