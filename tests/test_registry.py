"""Registries: decorator registration, listing, unknown names, parameter models."""

from typing import Literal

import pydantic
import pytest

from polymodal.errors import UnknownComponentError
from polymodal.registry import ALL_REGISTRIES, FUSIONS, Registry


def make_registry() -> Registry:
    registry = Registry("widget", injected=("spec",))

    @registry.register("round", higher_is_better=True)
    class Round:
        """A round widget.

        More text.
        """

        def __init__(self, spec: object, radius: float = 1.0, style: Literal["a", "b"] = "a"):
            self.spec, self.radius, self.style = spec, radius, style

    @registry.register("square")
    def square(spec: object, *, side: int) -> tuple[object, int]:
        return spec, side

    return registry


def test_register_list_create_and_meta():
    registry = make_registry()
    assert registry.names() == ["round", "square"]
    assert "round" in registry
    assert "hexagon" not in registry
    widget = registry.create("round", spec="S", radius=2.5)
    assert (widget.spec, widget.radius, widget.style) == ("S", 2.5, "a")
    assert registry.create("square", spec=1, side=3) == (1, 3)
    assert registry.entry("round").meta == {"higher_is_better": True}
    assert registry.entry("round").summary == "A round widget."


def test_unknown_name_lists_known_names():
    registry = make_registry()
    with pytest.raises(UnknownComponentError) as info:
        registry.get("hexagon")
    message = str(info.value)
    assert "unknown widget 'hexagon'" in message
    assert "round, square" in message
    assert isinstance(info.value, KeyError)


def test_duplicate_registration_is_refused():
    registry = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("round")(lambda spec: None)


def test_params_model_validates_user_parameters_only():
    registry = make_registry()
    model = registry.params_model("round")
    assert set(model.model_fields) == {"radius", "style"}  # 'spec' is injected, not a user param
    assert model.model_validate({"radius": "3"}).radius == 3.0
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate({"style": "c", "colour": "red"})
    kinds = {e["type"] for e in info.value.errors()}
    assert kinds == {"literal_error", "extra_forbidden"}
    required = registry.params_model("square")
    with pytest.raises(pydantic.ValidationError):
        required.model_validate({})


def test_package_registries_load_their_modules_lazily():
    assert set(ALL_REGISTRIES) == {
        "encoder",
        "interaction",
        "fusion",
        "head",
        "decoder",
        "dataset",
        "metric",
        "objective",
    }
    assert "concat" in FUSIONS.names()
