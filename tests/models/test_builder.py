"""Tests of the model builder (polymodal.models.builder)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polymodal.config import ModelConfig
from polymodal.data.collate import collate_modality
from polymodal.data.schema import Batch, DatasetInfo, Features, ModalitySpec, TaskSpec
from polymodal.errors import ConfigError
from polymodal.fusion.concat import ConcatFusion
from polymodal.heads.classification import ClassificationHead
from polymodal.heads.multilabel import MultilabelHead
from polymodal.heads.regression import RegressionHead
from polymodal.interaction.base import Interaction
from polymodal.models.builder import build_model, count_parameters
from polymodal.registry import INTERACTIONS, Entry

SPECS = {
    "image": ModalitySpec("image", "image", (1, 8, 8)),
    "audio": ModalitySpec("audio", "audio", (-1, 6)),
    "tab": ModalitySpec("tab", "tabular", (5,)),
}


def _info(task: TaskSpec | None = None) -> DatasetInfo:
    return DatasetInfo("toy", SPECS, task or TaskSpec("multiclass", 3))


def _cfg(**model: object) -> ModelConfig:
    return ModelConfig.model_validate(model)


def _problems(cfg: ModelConfig, info: DatasetInfo | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build_model(cfg, info or _info())
    return caught.value.problems


def test_unknown_modality_names_the_field_and_lists_modalities() -> None:
    problems = _problems(_cfg(encoders={"tab": "mlp", "depth": "cnn"}))
    assert len(problems) == 1
    assert problems[0].startswith("model.encoders.depth:")
    assert "image, audio, tab" in problems[0]


def test_every_problem_is_reported_at_once() -> None:
    cfg = _cfg(
        encoders={"depth": "mlp", "image": {"name": "cnn", "out_dim": "wide"}},
        fusion={"name": "no_such_fusion"},
        head={"name": "classification", "bogus": 1},
    )
    problems = _problems(cfg)
    assert len(problems) == 4
    joined = "\n".join(problems)
    assert "model.encoders.depth:" in joined
    assert "model.encoders.image.out_dim:" in joined
    assert "model.fusion.name: unknown fusion 'no_such_fusion'" in joined
    assert "concat" in joined  # the known fusions are listed
    assert "model.head.bogus: unknown key" in joined


def test_encoder_that_does_not_fit_its_modality() -> None:
    problems = _problems(_cfg(encoders={"audio": "cnn", "tab": "audio_gru"}))
    assert len(problems) == 2
    assert problems[0].startswith("model.encoders.audio: encoder 'cnn'")
    assert problems[1].startswith("model.encoders.tab: encoder 'audio_gru'")


def test_head_on_a_fusion_that_owns_it_and_wrong_task() -> None:
    problems = _problems(_cfg(encoders={"tab": "mlp"}, fusion="late", head="classification"))
    assert problems == [
        "model.head: fusion 'late' produces the task output itself; remove the head"
    ]
    problems = _problems(_cfg(encoders={"tab": "mlp"}, head="regression"))
    assert problems[0].startswith("model.head: head 'regression' is for regression tasks")


@pytest.mark.parametrize(
    ("task", "head_type"),
    [
        (TaskSpec("multiclass", 3), ClassificationHead),
        (TaskSpec("multilabel", 4), MultilabelHead),
        (TaskSpec("regression", 1), RegressionHead),
    ],
)
def test_default_head_follows_the_task(task: TaskSpec, head_type: type) -> None:
    model = build_model(_cfg(encoders={"tab": "mlp"}), _info(task))
    assert type(model.head) is head_type
    assert model.head.task == task


def test_widths_and_order_flow_from_encoders_to_head() -> None:
    cfg = _cfg(
        encoders={"tab": {"name": "mlp", "out_dim": "16"}, "image": {"name": "cnn", "out_dim": 4}},
        head={"name": "classification", "hidden_dim": None},
    )
    model = build_model(cfg, _info())
    assert model.encoders["tab"].out_dim == 16  # "16" from YAML-like input is validated to int
    assert isinstance(model.fusion, ConcatFusion)
    assert model.fusion.in_dims == {"tab": 16, "image": 4}
    assert list(model.fusion.in_dims) == ["tab", "image"]
    assert model.head.in_dim == 20
    assert model.interaction is None


class _Widen(Interaction):
    """Test double: doubles every modality's width by repeating its features."""

    def __init__(self, in_dims: dict[str, int], factor: int = 2) -> None:
        super().__init__(in_dims)
        self.factor = factor
        self.out_dims = {k: d * factor for k, d in in_dims.items()}

    def forward(self, features: dict[str, Features]) -> dict[str, Features]:
        return {
            k: Features(
                f.tokens.repeat(1, 1, self.factor),
                f.pooled.repeat(1, self.factor),
                f.padding_mask,
                f.present,
            )
            for k, f in features.items()
        }


def test_interaction_widths_feed_the_fusion(monkeypatch: pytest.MonkeyPatch) -> None:
    INTERACTIONS.names()  # load the registry before patching one entry in
    monkeypatch.setitem(INTERACTIONS._entries, "widen_test", Entry("widen_test", _Widen))
    cfg = _cfg(
        encoders={"tab": {"name": "mlp", "out_dim": 3}, "image": {"name": "cnn", "out_dim": 5}},
        interaction={"name": "widen_test", "factor": 3},
    )
    model = build_model(cfg, _info())
    assert isinstance(model.interaction, _Widen)
    assert model.fusion.in_dims == {"tab": 9, "image": 15}
    batch_inputs = {
        "tab": collate_modality([torch.randn(5), None], SPECS["tab"]),
        "image": collate_modality([torch.randn(1, 8, 8)] * 2, SPECS["image"]),
    }
    out = model(Batch(["a", "b"], batch_inputs, torch.tensor([0, 1])))
    assert out.features["tab"].pooled.shape == (2, 9)
    assert out.output.shape == (2, 3)


def test_bad_interaction_param_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    INTERACTIONS.names()
    monkeypatch.setitem(INTERACTIONS._entries, "widen_test", Entry("widen_test", _Widen))
    cfg = _cfg(encoders={"tab": "mlp"}, interaction={"name": "widen_test", "factor": "x"})
    assert _problems(cfg)[0].startswith("model.interaction.factor:")


def test_count_parameters() -> None:
    model = build_model(
        _cfg(
            encoders={"tab": {"name": "mlp", "num_layers": 0, "out_dim": 4}},
            head={"name": "classification", "hidden_dim": None},
        ),
        _info(),
    )
    # mlp: 5*4 + 4; concat missing embedding: 4; head: 4*3 + 3
    assert count_parameters(model) == 24 + 4 + 15
    for p in model.encoders.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 4 + 15
    assert count_parameters(nn.Linear(2, 2)) == 6


def test_unlabelled_dataset_refuses_a_supervised_head():
    from polymodal.config import ModelConfig
    from polymodal.data.schema import DatasetInfo, ModalitySpec, TaskSpec
    from polymodal.errors import ConfigError
    from polymodal.models.builder import build_model

    info = DatasetInfo(
        "pairs", {"x": ModalitySpec("x", "tabular", (4,))}, TaskSpec("none", 0), "unlabelled"
    )
    with pytest.raises(ConfigError, match="has no labels"):
        build_model(ModelConfig.model_validate({"encoders": {"x": "mlp"}}), info)
    tower = {"encoders": {"x": "mlp"}, "head": {"name": "retrieval", "embed_dim": 8}}
    assert build_model(ModelConfig.model_validate(tower), info).head.embed_dim == 8
