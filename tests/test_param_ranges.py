"""Parameter ranges as annotations of component signatures (polymodal.registry: Positive, ...).

A value out of range is one clear ConfigError naming the field's YAML path and the allowed range,
whether it comes from an experiment config, a benchmark spec or a component built in Python.
"""

from __future__ import annotations

from typing import Annotated

import pydantic
import pytest

from polymodal.bench.cells import parse_spec
from polymodal.config import parse_config
from polymodal.data.schema import TaskSpec
from polymodal.errors import ConfigError
from polymodal.registry import (
    ENCODERS,
    FUSIONS,
    HEADS,
    INTERACTIONS,
    Dropout,
    Positive,
    Registry,
)

DATA = {"name": "synthetic", "task": "redundant", "n": 200}
TWO = {"image": "cnn", "audio": "audio_conv"}
MODEL_REGISTRIES = [ENCODERS, INTERACTIONS, FUSIONS, HEADS]
# Parameter names that are widths or counts of heads wherever they appear.
WIDTHS = {"out_dim", "hidden_dim", "d_model", "embed_dim", "proj_dim", "heads", "num_heads", "dim"}


def _problems(model: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({"data": DATA, "model": model})
    return caught.value.problems


def test_a_negative_width_is_one_problem_at_its_yaml_path() -> None:
    problems = _problems({"encoders": {"image": {"name": "cnn", "out_dim": -8}}})
    assert problems == [
        "model.encoders.image.out_dim: Input should be greater than or equal to 1 (got -8)"
    ]


def test_a_zero_head_count_is_one_problem_at_its_yaml_path() -> None:
    problems = _problems({"encoders": TWO, "interaction": {"name": "mult", "heads": 0}})
    assert problems == [
        "model.interaction.heads: Input should be greater than or equal to 1 (got 0)"
    ]


def test_a_dropout_of_one_and_a_zero_width_of_a_preset_are_reported_together() -> None:
    problems = _problems({"preset": "tfn", "fusion": {"hidden_dim": 0, "dropout": 1.0}})
    assert sorted(problems) == [
        "model.fusion.dropout: Input should be less than 1 (got 1.0)",
        "model.fusion.hidden_dim: Input should be greater than or equal to 1 (got 0)",
    ]


def test_a_bench_spec_reports_the_range_at_the_model_entry() -> None:
    raw = {
        "datasets": [DATA],
        "models": {"wide": {"encoders": TWO, "fusion": {"name": "gated", "hidden_dim": -1}}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_spec(raw)
    assert caught.value.problems == [
        "models.wide.fusion.hidden_dim: Input should be greater than or equal to 1 (got -1)"
    ]


def test_create_checks_the_ranges_of_a_component_built_in_python() -> None:
    task = TaskSpec("multiclass", 3)
    with pytest.raises(ConfigError) as caught:
        FUSIONS.create("tensor", in_dims={"a": 4, "b": 4}, task=task, proj_dim=0, hidden_dim=-2)
    assert caught.value.problems == [
        "fusion 'tensor': proj_dim: Input should be greater than or equal to 1 (got 0)",
        "fusion 'tensor': hidden_dim: Input should be greater than or equal to 1 (got -2)",
    ]
    fusion = FUSIONS.create("tensor", in_dims={"a": 4, "b": 4}, task=task, proj_dim=2)
    assert fusion.tensor_dim == 9  # (2 + 1) * (2 + 1): a valid value is passed through


def test_cross_field_checks_stay_in_the_component() -> None:
    with pytest.raises(ConfigError) as caught:
        INTERACTIONS.create("mult", in_dims={"a": 4, "b": 4}, d_model=10, heads=4)
    assert caught.value.problems == ["interaction 'mult': d_model must be divisible by heads"]


@pytest.mark.parametrize("registry", MODEL_REGISTRIES, ids=lambda r: r.kind)
def test_every_width_and_head_count_of_a_model_component_refuses_zero(registry: Registry) -> None:
    checked = 0
    for name in registry.names():
        model = registry.params_model(name)
        for field in set(model.model_fields) & WIDTHS:
            with pytest.raises(pydantic.ValidationError):
                model.model_validate({field: 0})
            checked += 1
        if "dropout" in model.model_fields:
            with pytest.raises(pydantic.ValidationError):
                model.model_validate({"dropout": 1.0})
    assert checked > 0


def test_params_model_keeps_annotated_constraints() -> None:
    registry = Registry("widget", injected=("spec",), checked=True)

    @registry.register("w")
    def widget(
        spec: object,
        size: Positive = 2,
        p: Dropout = 0.0,
        n: Annotated[int, pydantic.Field(le=3)] = 0,
    ):
        return spec, size, p, n

    fields = registry.params_model("w").model_fields
    assert [m.ge for m in fields["size"].metadata] == [1]
    assert registry.create("w", spec="s", size=3, n=3) == ("s", 3, 0.0, 3)
    with pytest.raises(
        ConfigError, match=r"widget 'w': n: Input should be less than or equal to 3"
    ):
        registry.create("w", spec="s", n=4)
