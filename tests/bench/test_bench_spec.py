"""Benchmark spec: cells, grid variants, labels, config hashes and collected validation errors."""

from __future__ import annotations

import pytest

from polymodal.bench.cells import expand_cells, load_spec, parse_spec, variants
from polymodal.bench.spec import BenchSpec
from polymodal.errors import ConfigError

TINY_IMAGE = {"name": "cnn", "out_dim": 8, "channels": 4, "num_blocks": 2}


def _raw(**changes):
    raw = {
        "name": "t",
        "datasets": [{"name": "synthetic", "task": "redundant", "n": 100}],
        "models": {
            "image-only": {"encoders": {"image": TINY_IMAGE}},
            "concat": {"encoders": {"image": TINY_IMAGE, "audio": "audio_conv"}},
        },
        "seeds": [0, 1],
        "train": {"max_epochs": 1},
    }
    raw.update(changes)
    return raw


def test_cells_are_datasets_times_variants_times_seeds_in_order():
    spec = parse_spec(_raw(grid={"train.lr": [0.01, 0.1], "train.batch_size": [8]}))
    cells = expand_cells(spec)
    assert len(cells) == 1 * 2 * 2 * 2
    assert [c.position for c in cells] == list(range(8))
    assert [c.key for c in cells[:4]] == [
        "synthetic-redundant/image-only[lr=0.01,batch_size=8]/0",
        "synthetic-redundant/image-only[lr=0.01,batch_size=8]/1",
        "synthetic-redundant/image-only[lr=0.1,batch_size=8]/0",
        "synthetic-redundant/image-only[lr=0.1,batch_size=8]/1",
    ]
    assert [c.config.train.lr for c in cells[:4]] == [0.01, 0.01, 0.1, 0.1]
    assert all(c.config.train.batch_size == 8 for c in cells)
    assert all(c.config.train.progress is False for c in cells)  # the bench shows its own
    assert cells[3].config.seed == 1
    assert cells[3].run_name == "synthetic-redundant__image-only-lr=0.1-batch_size=8__s1"
    assert len({c.run_name for c in cells}) == len(cells)


def test_grid_keys_with_the_same_last_part_keep_their_whole_path():
    concat = {"encoders": {"image": TINY_IMAGE, "audio": "audio_conv"}}
    grid = {"model.encoders.image.out_dim": [6], "model.encoders.audio.out_dim": [4]}
    spec = parse_spec(_raw(models={"concat": concat}, grid=grid))
    (variant,) = variants(spec)
    assert variant.name == "concat[model.encoders.image.out_dim=6,model.encoders.audio.out_dim=4]"
    config = expand_cells(spec)[0].config
    assert config.model.encoders["image"].params["out_dim"] == 6
    audio = config.model.encoders["audio"]  # given by name, expanded by the override
    assert (audio.name, audio.params["out_dim"]) == ("audio_conv", 4)


def test_mapping_of_datasets_gives_the_labels():
    raw = _raw(datasets={"easy": {"name": "synthetic", "task": "redundant", "n": 100}})
    spec = parse_spec(raw)
    assert {c.dataset for c in expand_cells(spec)} == {"easy"}
    same_twice = _raw(datasets=[{"name": "synthetic", "n": 100}, {"name": "synthetic", "n": 200}])
    labels = [label for label, _, _ in parse_spec(same_twice).labelled_datasets()]
    assert labels == ["synthetic", "synthetic-2"]


def test_config_hash_follows_config_and_evaluation_options():
    base = expand_cells(parse_spec(_raw()))
    again = expand_cells(parse_spec(_raw()))
    assert [c.config_hash for c in base] == [c.config_hash for c in again]
    assert len({c.config_hash for c in base}) == len(base)  # seeds and models differ
    lr = expand_cells(parse_spec(_raw(train={"max_epochs": 1, "lr": 0.5})))
    assert all(a.config_hash != b.config_hash for a, b in zip(base, lr, strict=True))
    robust = expand_cells(parse_spec(_raw(eval={"robustness": True})))
    assert all(a.config_hash != b.config_hash for a, b in zip(base, robust, strict=True))
    assert robust[0].options["robustness"] is True


def test_every_problem_is_reported_at_once_with_its_spec_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        """
name: bad
datasets:
  - {name: synthetic, task: synergyx}
  - {name: nope}
models:
  a: {encoders: {image: cnnx}}
  b: {encoders: {image: cnn}, fusion: {name: concat, foo: 1}}
  c: 3
grid: {train.lr: [0.1, -1]}
seeds: [0, 0]
train: {max_epochs: 0}
"""
    )
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    problems = info.value.problems
    text = "\n".join(problems)
    assert str(path) in str(info.value)
    expected = [
        "models:",  # c is not a model section
        "seeds:",
        "train.max_epochs:",
        "datasets.0.task:",
        "datasets.1.name: unknown dataset 'nope'",
        "models.a.encoders.image.name: unknown encoder 'cnnx'",
        "models.b.fusion.foo: unknown key",
        "grid.train.lr (value -1):",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, text)
    grid_problem = next(p for p in problems if p.startswith("grid.train.lr"))
    assert "(in a[lr=-1], b[lr=-1])" in grid_problem  # only those variants
    dataset_problem = next(p for p in problems if p.startswith("datasets.0.task"))
    assert "(in " not in dataset_problem  # every variant has it: no list of variants


def test_grid_keys_and_names_are_checked():
    with pytest.raises(ConfigError) as info:
        parse_spec(_raw(grid={"lr": [1], "eval.split": ["val"], "train.lr": []}, name="a/b"))
    text = str(info.value)
    assert "grid key 'lr'" in text
    assert "name:" in text


def test_models_by_preset_name():
    spec = parse_spec(_raw(models={"tfn": "tfn", "early": "early"}))
    cells = expand_cells(spec)
    assert {c.config.model.fusion.name for c in cells} == {"tensor", "concat"}
    with pytest.raises(ConfigError) as info:
        parse_spec(_raw(models={"p": "some-preset", "c": "clip"}))  # clip is valid (two-stage)
    problems = "\n".join(info.value.problems)
    assert "models.p" in problems
    assert "early" in problems  # the known presets are listed
    assert "models.c" not in problems


def test_contrastive_preset_is_a_two_stage_linear_probe_cell():
    from polymodal.bench.cells import expand_cells

    raw = {
        "name": "t",
        "datasets": [{"name": "synthetic", "task": "redundant", "n": 200}],
        "models": {
            "clip": "clip",
            "moco-ft": {"pretrain": {"preset": "moco", "transfer": {"mode": "finetune"}}},
        },
        "seeds": [0],
    }
    cells = {c.config.name: c.config for c in expand_cells(BenchSpec.model_validate(raw))}
    clip = cells["synthetic-redundant__clip__s0"]
    assert clip.pretrain.objective.name == "contrastive"
    assert clip.pretrain.transfer.mode == "linear_probe"
    assert clip.model.head.params == {"hidden_dim": None, "dropout": 0.0}  # linear classifier
    assert set(clip.model.encoders) == {"image", "text"}  # the towers' encoders
    moco = cells["synthetic-redundant__moco-ft__s0"]
    assert moco.pretrain.objective.name == "moco"
    assert moco.pretrain.transfer.mode == "finetune"


def test_pretrain_problem_is_reported_at_the_model_entry():
    from polymodal.bench.cells import expand_cells
    from polymodal.errors import ConfigError

    raw = {
        "name": "t",
        "datasets": [{"name": "synthetic", "n": 200}],
        "models": {"bad": {"pretrain": {"preset": "clip", "objective": {"bogus": 1}}}},
        "seeds": [0],
    }
    with pytest.raises(ConfigError, match=r"models\.bad\.pretrain\.objective\.bogus"):
        expand_cells(BenchSpec.model_validate(raw))


def test_a_preset_with_changes_is_merged_key_by_key():
    from polymodal.bench.cells import expand_cells

    raw = {
        "name": "t",
        "datasets": [{"name": "synthetic", "n": 200}],
        "models": {
            "tfn-aux": {"preset": "tfn", "unimodal_loss_weight": 1.0, "fusion": {"proj_dim": 4}}
        },
        "seeds": [0],
    }
    (cell,) = expand_cells(BenchSpec.model_validate(raw))
    model = cell.config.model
    assert model.unimodal_loss_weight == 1.0
    assert model.fusion.name == "tensor"
    assert model.fusion.params["proj_dim"] == 4
    assert model.fusion.params["hidden_dim"] == 64  # the rest of the preset is kept
