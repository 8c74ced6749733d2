"""Which code trained the kept cells of a benchmark (polymodal.bench.provenance)."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from polymodal.bench.provenance import (
    CodeIdentity,
    current_code,
    kept_from_other_code,
    other_code_note,
    recorded_code,
)
from polymodal.train.environment import collect_environment

OLD_REV = "a" * 40
NEW_REV = "b" * 40


def write_env(run_dir: Path, version: str | None, revision: str | None) -> Path:
    run_dir.mkdir(parents=True)
    env = {"packages": {"polymodal": version}, "git": {"revision": revision, "dirty": False}}
    (run_dir / "env.json").write_text(json.dumps(env))
    return run_dir


def test_only_a_field_known_on_both_sides_can_differ():
    now = CodeIdentity("1.0", NEW_REV)
    assert CodeIdentity("0.9", NEW_REV).differs_from(now)
    assert CodeIdentity("1.0", OLD_REV).differs_from(now)
    assert not CodeIdentity("1.0", NEW_REV).differs_from(now)
    assert not CodeIdentity(None, None).differs_from(now)  # nothing recorded proves nothing
    assert not CodeIdentity("1.0", OLD_REV).differs_from(CodeIdentity("1.0", None))


def test_what_a_run_records_reads_back_as_the_current_code(tmp_path):
    """env.json as training writes it (collect_environment) gives current_code's identity."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = collect_environment(seed=0, cwd=tmp_path)
    (run_dir / "env.json").write_text(json.dumps(env))
    assert recorded_code(run_dir) == current_code(tmp_path)
    assert current_code(tmp_path).version == metadata.version("polymodal")


def test_a_missing_or_broken_env_file_records_nothing(tmp_path):
    assert recorded_code(tmp_path) is None
    (tmp_path / "env.json").write_text("{not json")
    assert recorded_code(tmp_path) is None
    (tmp_path / "env.json").write_text("[1, 2]")
    assert recorded_code(tmp_path) is None


def test_kept_cells_from_another_version_or_revision_are_named(tmp_path):
    now = CodeIdentity("1.0", NEW_REV)
    dirs = [
        ("d/same/0", write_env(tmp_path / "same", "1.0", NEW_REV)),
        ("d/old-rev/0", write_env(tmp_path / "old-rev", "1.0", OLD_REV)),
        ("d/old-version/0", write_env(tmp_path / "old-version", "0.9", None)),
        ("d/no-env/0", tmp_path / "no-env"),
    ]
    other = kept_from_other_code(dirs, now)
    assert other == {
        "d/old-rev/0": CodeIdentity("1.0", OLD_REV),
        "d/old-version/0": CodeIdentity("0.9", None),
    }


def test_the_note_counts_the_cells_of_each_other_version():
    now = CodeIdentity("1.0", NEW_REV)
    assert other_code_note({}, now) is None
    old = CodeIdentity("1.0", OLD_REV)
    note = other_code_note({"a": old, "b": old, "c": CodeIdentity("0.9", None)}, now)
    assert note is not None
    assert note.startswith("3 kept cells were trained by another version of the code")
    assert (
        "2 by polymodal 1.0 at git aaaaaaa; 1 by polymodal 0.9; now polymodal 1.0 at git bbbbbbb"
        in note
    )
    assert "--rerun" in note
    single = other_code_note({"a": old}, now)
    assert single is not None
    assert single.startswith("1 kept cell was trained")
