"""The presets (polymodal/presets/*.yaml) built by polymodal.models.builder: models and towers."""

from __future__ import annotations

import pytest
import torch

from polymodal.config import ModelConfig, parse_config
from polymodal.data.bundle import DataBundle
from polymodal.data.collate import collate_samples
from polymodal.data.schema import Batch, DatasetInfo, ModalitySpec, Sample, TaskSpec
from polymodal.errors import ConfigError
from polymodal.models.builder import build_model, build_towers
from polymodal.objectives.contrastive import ContrastiveLoss
from polymodal.objectives.moco import CrossModalMoCo
from polymodal.presets import load_preset
from polymodal.registry import DATASETS, ENCODERS, FUSIONS, HEADS, INTERACTIONS

SUPERVISED = ["early", "late", "tfn", "lmf", "gated", "graph", "bilinear", "mult", "mmbt", "coattn"]
UNIMODAL = {"image-only": "image", "audio-only": "audio", "text-only": "text"}
FUSION_OF = {
    "early": "concat",
    "late": "late",
    "tfn": "tensor",
    "lmf": "lowrank",
    "gated": "gated",
    "graph": "graph",
}
INTERACTION_OF = {
    "bilinear": "bilinear",
    "mult": "mult",
    "mmbt": "single_stream",
    "coattn": "coattention",
}


@pytest.fixture(scope="module")
def synthetic() -> DataBundle:
    return DATASETS.create("synthetic", seed=0, state=None, n=64)


def _batch(bundle: DataBundle, n: int = 6) -> Batch:
    """``n`` training samples; image missing in samples 0-1, audio missing in sample 2."""
    train = bundle.splits["train"]
    samples = [train[i] for i in range(n)]
    for i, drop in ((0, "image"), (1, "image"), (2, "audio")):
        inputs = dict(samples[i].inputs)
        inputs[drop] = None
        samples[i] = Sample(samples[i].id, inputs, samples[i].target)
    return collate_samples(samples, bundle.info.modalities)


def _assert_written_out(registry, spec: dict, where: str) -> None:
    """Every user parameter of the component's factory is given in the preset."""
    fields = set(registry.params_model(spec["name"]).model_fields)
    assert fields == set(spec) - {"name"}, where


@pytest.mark.parametrize("name", [*SUPERVISED, *UNIMODAL, "dual-encoder"])
def test_every_value_is_written_out(name: str) -> None:
    section = load_preset(name)
    # `decoder` belongs to generation models only; the presets are classifiers
    assert set(section) == set(ModelConfig.model_fields) - {"decoder"}
    for key, spec in section["encoders"].items():
        _assert_written_out(ENCODERS, spec, f"{name}: encoders.{key}")
    _assert_written_out(FUSIONS, section["fusion"], f"{name}: fusion")
    if section["interaction"] is not None:
        _assert_written_out(INTERACTIONS, section["interaction"], f"{name}: interaction")
    if section["head"] is not None:
        _assert_written_out(HEADS, section["head"], f"{name}: head")


@pytest.mark.parametrize("name", SUPERVISED)
def test_supervised_preset_builds_and_trains_on_synthetic(name: str, synthetic: DataBundle) -> None:
    section = load_preset(name)
    assert set(section["encoders"]) == {"image", "audio"}
    assert section["fusion"]["name"] == FUSION_OF.get(name, "concat")
    inter = section["interaction"]
    assert (inter["name"] if inter else None) == INTERACTION_OF.get(name)
    parse_config({"data": {"name": "synthetic"}, "model": section})  # components validate
    torch.manual_seed(0)
    model = build_model(ModelConfig.model_validate(section), synthetic.info)
    batch = _batch(synthetic)
    out = model(batch)
    assert out.output.shape == (6, 2)
    loss = model.loss(out, batch.target)
    assert torch.isfinite(loss)
    loss.backward()
    for modality in ("image", "audio"):
        grads = [p.grad for p in model.encoders[modality].parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), modality


def test_dual_encoder_concatenates_pooled_outputs_into_a_linear_classifier() -> None:
    specs = {
        m: ModalitySpec(m, "text", (-1,), vocab_size=50, pad_id=0) for m in ("text_en", "text_zh")
    }
    info = DatasetInfo("bilingual", specs, TaskSpec("multiclass", 3))
    section = load_preset("dual-encoder")
    torch.manual_seed(0)
    model = build_model(ModelConfig.model_validate(section), info)
    linears = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    # one linear layer, sized for the two pooled widths (64 + 64), not for logits (3 + 3)
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(128, 3)]
    gen = torch.Generator().manual_seed(1)
    samples = [
        Sample(
            f"s{i}",
            {m: torch.randint(1, 50, (3 + i,), generator=gen) for m in specs},
            torch.tensor(i % 3),
        )
        for i in range(4)
    ]
    batch = collate_samples(samples, specs)
    model.eval()
    out = model(batch)
    fused = torch.cat([out.features["text_en"].pooled, out.features["text_zh"].pooled], dim=-1)
    torch.testing.assert_close(out.output, linears[0](fused))
    model.train()
    model.loss(model(batch), batch.target).backward()
    assert model.encoders["text_zh"].embed.weight.grad is not None


@pytest.mark.parametrize("name", ["clip", "moco"])
def test_contrastive_presets_build_their_towers(name: str, synthetic: DataBundle) -> None:
    section = load_preset(name)
    assert section["objective"]["name"] == ("contrastive" if name == "clip" else "moco")
    torch.manual_seed(0)
    towers = build_towers(section, synthetic.info)
    assert list(towers) == ["image", "text"]
    batch = _batch(synthetic)
    embeddings = {m: tower(batch).output for m, tower in towers.items()}
    for emb in embeddings.values():
        assert emb.shape == (6, 64)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(6))
    params = {k: v for k, v in section["objective"].items() if k != "name"}
    if name == "clip":
        loss = ContrastiveLoss(**params)(
            embeddings["image"], embeddings["text"], batch.inputs["image"].present
        )
    else:
        embed_dim = section["towers"]["image"]["head"]["embed_dim"]
        moco = CrossModalMoCo(towers, embed_dim=embed_dim, **params)
        assert moco(batch).loss == 0  # the queues start empty: no negatives yet
        loss = moco(batch).loss
    assert torch.isfinite(loss)
    assert loss > 0


def test_build_towers_reports_problems_under_the_tower() -> None:
    section = load_preset("clip")
    section["towers"]["text"]["encoders"] = {"audio": {"name": "audio_conv", "bogus": 1}}
    info = DATASETS.create("synthetic", seed=0, state=None, n=64).info
    with pytest.raises(ConfigError) as caught:
        build_towers(section, info)
    assert caught.value.problems == [
        "towers.text.encoders: the tower 'text' must have an encoder of modality 'text' "
        "(it has: audio)"
    ]


@pytest.mark.parametrize("name", SUPERVISED)
def test_fusion_presets_train_every_encoder_with_its_own_loss(name: str) -> None:
    # docs/experiments/preset-quality.md: without the unimodal losses the fused presets trail
    # the unimodal baseline on degraded digits-av (modality competition)
    assert load_preset(name)["unimodal_loss_weight"] == 1.0


@pytest.mark.parametrize(("name", "modality"), UNIMODAL.items())
def test_unimodal_preset_is_the_fusion_presets_encoder_alone(
    name: str, modality: str, synthetic: DataBundle
) -> None:
    section = load_preset(name)
    assert list(section["encoders"]) == [modality]
    if modality != "text":  # the same encoder as every fusion preset
        assert section["encoders"] == {modality: load_preset("early")["encoders"][modality]}
    # the written-out preset is the short form {encoders: {m: NAME}} with its defaults
    short = {"encoders": {modality: section["encoders"][modality]["name"]}}
    torch.manual_seed(0)
    model = build_model(ModelConfig.model_validate(section), synthetic.info)
    torch.manual_seed(0)
    reference = build_model(
        parse_config({"data": {"name": "synthetic"}, "model": short}).model, synthetic.info
    )
    assert model.modalities == [modality]
    state, expected = model.state_dict(), reference.state_dict()
    assert list(state) == list(expected)
    for key in state:
        torch.testing.assert_close(state[key], expected[key])
    batch = _batch(synthetic)
    model.eval()
    out = model(batch)
    assert out.output.shape == (6, 2)
    assert set(out.features) == {modality}  # the other modalities are not read
