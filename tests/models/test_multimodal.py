"""Tests of MultimodalModel (polymodal.models.multimodal), built from configs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from polymodal.config import ModelConfig
from polymodal.data.collate import collate_samples
from polymodal.data.schema import Batch, DatasetInfo, ModalitySpec, Sample, TaskSpec
from polymodal.errors import DataError
from polymodal.models.builder import build_model
from polymodal.models.multimodal import MultimodalModel

SPECS = {
    "image": ModalitySpec("image", "image", (1, 8, 8)),
    "audio": ModalitySpec("audio", "audio", (-1, 6)),
    "text": ModalitySpec("text", "text", (-1,), vocab_size=20, pad_id=0),
    "tab": ModalitySpec("tab", "tabular", (5,)),
}
INFO = DatasetInfo("toy", SPECS, TaskSpec("multiclass", 3))
ENCODERS = {
    "image": {"name": "cnn", "out_dim": 8, "channels": 4},
    "audio": {"name": "audio_gru", "out_dim": 8, "hidden_dim": 8},
    "text": {"name": "text_transformer", "out_dim": 8, "num_heads": 2, "max_len": 16},
    "tab": {"name": "mlp", "out_dim": 8, "hidden_dim": 8},
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine the thread barriers
    of every small op make training loops many times slower; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _samples(n: int = 6, seed: int = 0, task: TaskSpec = INFO.task) -> list[Sample]:
    """Hand-made samples; sample i misses modality (i mod 5) (none missing when i mod 5 == 4)."""
    gen = torch.Generator().manual_seed(seed)
    names = list(SPECS)
    out = []
    for i in range(n):
        inputs = {
            "image": torch.randn(1, 8, 8, generator=gen),
            "audio": torch.randn(3 + i, 6, generator=gen),
            "text": torch.randint(1, 20, (2 + i % 4,), generator=gen),
            "tab": torch.randn(5, generator=gen),
        }
        if i % 5 < len(names):
            inputs[names[i % 5]] = None
        if task.type == "multiclass":
            target = torch.tensor(i % task.num_outputs)
        else:
            target = torch.randn(task.num_outputs, generator=gen)
        out.append(Sample(f"s{i}", dict(inputs), target))
    return out


def _model(fusion: str = "concat", info: DatasetInfo = INFO, seed: int = 0) -> MultimodalModel:
    torch.manual_seed(seed)
    cfg = ModelConfig.model_validate({"encoders": ENCODERS, "fusion": fusion})
    return build_model(cfg, info)


def _batch(info: DatasetInfo = INFO, seed: int = 0) -> Batch:
    return collate_samples(_samples(seed=seed, task=info.task), info.modalities)


@pytest.mark.parametrize("fusion", ["concat", "sum", "late"])
def test_forward_backward_with_missing_modalities(fusion: str) -> None:
    model = _model(fusion)
    batch = _batch()
    for m in SPECS:
        assert not bool(batch.inputs[m].present.all())  # every modality is missing somewhere
    out = model(batch)
    assert out.output.shape == (6, 3)
    assert set(out.features) == set(SPECS)
    assert torch.isfinite(out.output).all()
    loss = model.loss(out, batch.target)
    torch.testing.assert_close(loss, F.cross_entropy(out.output, batch.target))
    loss.backward()
    assert all(p.grad is not None for p in model.encoders.parameters())
    pred = model.predict(out)
    assert torch.equal(pred.prediction, out.output.argmax(-1))
    torch.testing.assert_close(pred.scores, out.output.softmax(-1))


def test_late_fusion_exposes_per_modality_outputs() -> None:
    model = _model("late").eval()
    assert model.head is None
    batch = _batch()
    with torch.no_grad():
        out = model(batch)
    assert set(out.extras) == {f"output/{m}" for m in SPECS}
    present = torch.stack([batch.inputs[m].present for m in SPECS], dim=1).float()  # [B, M]
    stacked = torch.stack([out.extras[f"output/{m}"] for m in SPECS], dim=1)  # [B, M, C]
    expected = (stacked * present[..., None]).sum(1) / present.sum(1, keepdim=True)
    torch.testing.assert_close(out.output, expected)


def test_late_fusion_regression_uses_mse() -> None:
    info = DatasetInfo("toy", SPECS, TaskSpec("regression", 2))
    model = _model("late", info=info)
    batch = _batch(info)
    out = model(batch)
    assert out.output.shape == (6, 2)
    torch.testing.assert_close(model.loss(out, batch.target), F.mse_loss(out.output, batch.target))
    assert torch.equal(model.predict(out).prediction, out.output)


def test_only_modalities_with_an_encoder_are_used() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig.model_validate({"encoders": {"tab": "mlp", "image": "cnn"}})
    model = build_model(cfg, INFO).eval()
    assert model.modalities == ["tab", "image"]
    batch = _batch()
    with torch.no_grad():
        out = model(batch)
        assert set(out.features) == {"tab", "image"}
        batch.inputs["audio"].values.fill_(1e9)  # other modalities are never read
        torch.testing.assert_close(model(batch).output, out.output)
        del batch.inputs["audio"], batch.inputs["text"]
        torch.testing.assert_close(model(batch).output, out.output)
        del batch.inputs["image"]
        with pytest.raises(DataError, match="'image'"):
            model(batch)


def test_absent_values_do_not_change_the_output() -> None:
    model = _model("concat").eval()
    batch = _batch()
    absent = ~batch.inputs["tab"].present
    with torch.no_grad():
        before = model(batch).output
        batch.inputs["tab"].values[absent] = 123.0
        after = model(batch).output
    torch.testing.assert_close(after, before)


def test_same_seed_is_bit_identical() -> None:
    outputs = []
    for _ in range(2):
        model = _model("concat", seed=3)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        batch = _batch()
        torch.manual_seed(5)
        model.loss(model(batch), batch.target).backward()
        opt.step()
        outputs.append(model(batch).output.detach())
    assert torch.equal(outputs[0], outputs[1])


def test_model_rejects_inconsistent_head() -> None:
    model = _model("late")
    concat = _model("concat")
    with pytest.raises(ValueError, match="owns its head"):
        MultimodalModel(dict(model.encoders), model.fusion, concat.head)
    with pytest.raises(ValueError, match="needs a head"):
        MultimodalModel(dict(concat.encoders), concat.fusion, None)


def _xor_batch(n: int, seed: int) -> Batch:
    """Two tabular modalities, each carrying one bit (+ noise); the label is their XOR."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.tensor([1.0, -1.0, 0.5, 0.0])
    bits = torch.randint(0, 2, (n, 2), generator=gen)
    samples = []
    for i in range(n):
        a, b = (2.0 * bits[i] - 1.0).tolist()
        samples.append(
            Sample(
                f"x{i}",
                {
                    "a": a * direction + 0.1 * torch.randn(4, generator=gen),
                    "b": b * direction.flip(0) + 0.1 * torch.randn(4, generator=gen),
                },
                torch.tensor(int(bits[i, 0] ^ bits[i, 1])),
            )
        )
    return collate_samples(samples, XOR_INFO.modalities)


XOR_INFO = DatasetInfo(
    "xor",
    {"a": ModalitySpec("a", "tabular", (4,)), "b": ModalitySpec("b", "tabular", (4,))},
    TaskSpec("multiclass", 2),
)


def _xor_accuracy(fusion: dict, head: dict | None) -> float:
    torch.manual_seed(0)
    encoder = {"name": "mlp", "out_dim": 8, "hidden_dim": 16, "num_layers": 1, "dropout": 0.0}
    cfg = ModelConfig.model_validate(
        {"encoders": {"a": encoder, "b": encoder}, "fusion": fusion, "head": head}
    )
    model = build_model(cfg, XOR_INFO)
    train, test = _xor_batch(256, seed=1), _xor_batch(256, seed=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        model.loss(model(train), train.target).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model.predict(model(test)).prediction
    return float((pred == test.target).float().mean())


def test_concat_learns_xor_but_late_cannot() -> None:
    concat = _xor_accuracy({"name": "concat"}, {"name": "classification", "dropout": 0.0})
    late = _xor_accuracy({"name": "late", "dropout": 0.0}, None)
    assert concat > 0.9
    assert late < 0.75


def test_unimodal_losses_are_added_on_the_rows_that_have_the_modality():
    import torch.nn.functional as F

    from polymodal.config import ModelConfig
    from polymodal.data.schema import DatasetInfo, ModalityBatch, ModalitySpec, TaskSpec
    from polymodal.models.builder import build_model

    specs = {m: ModalitySpec(m, "tabular", (3,)) for m in ("a", "b")}
    info = DatasetInfo("t", specs, TaskSpec("multiclass", 4))
    section = {"encoders": {"a": "mlp", "b": "mlp"}, "unimodal_loss_weight": 0.5}
    torch.manual_seed(0)
    model = build_model(ModelConfig.model_validate(section), info).eval()  # no dropout
    assert set(model.unimodal_heads) == {"a", "b"}
    present_b = torch.tensor([True, False, True, True, False])
    inputs = {
        "a": ModalityBatch(torch.randn(5, 3), torch.ones(5, dtype=torch.bool)),
        "b": ModalityBatch(torch.randn(5, 3) * present_b[:, None], present_b),
    }
    batch = Batch([f"s{i}" for i in range(5)], inputs, torch.tensor([0, 1, 2, 3, 1]))
    output = model(batch)
    target = batch.target
    logits_a = model.unimodal_heads["a"](model.encoders["a"](inputs["a"]).pooled)
    logits_b = model.unimodal_heads["b"](model.encoders["b"](inputs["b"]).pooled)
    expected = (
        F.cross_entropy(output.output, target)
        + 0.5
        * (
            F.cross_entropy(logits_a, target)
            + F.cross_entropy(logits_b[present_b], target[present_b])
        )
        / 2
    )
    assert torch.allclose(model.loss(output, target), expected)
    fused_only = model.head(model.fuse(model.encode(batch))[0])
    assert torch.equal(output.output, fused_only)  # predictions come from the fused output
    plain = build_model(ModelConfig.model_validate({"encoders": {"a": "mlp", "b": "mlp"}}), info)
    assert plain.unimodal_heads is None
    assert not any(k.startswith("unimodal_heads") for k in plain.state_dict())


def test_saved_config_leaves_out_a_zero_unimodal_weight():
    from polymodal.config import config_to_dict, parse_config

    plain = config_to_dict(parse_config({"model": {"encoders": {"image": "cnn"}}}))
    assert "unimodal_loss_weight" not in plain["model"]  # keys saved before it stay the same
    assert "pretrain" not in plain
    assert parse_config(plain) == parse_config({"model": {"encoders": {"image": "cnn"}}})
    raw = {"model": {"encoders": {"image": "cnn"}, "unimodal_loss_weight": 1.0}}
    assert config_to_dict(parse_config(raw))["model"]["unimodal_loss_weight"] == 1.0


def test_late_fusion_trains_its_own_heads_with_the_unimodal_losses():
    import torch.nn.functional as F

    from polymodal.config import ModelConfig
    from polymodal.data.schema import DatasetInfo, ModalityBatch, ModalitySpec, TaskSpec
    from polymodal.models.builder import build_model

    specs = {m: ModalitySpec(m, "tabular", (3,)) for m in ("a", "b")}
    info = DatasetInfo("t", specs, TaskSpec("multiclass", 4))
    section = {"encoders": {"a": "mlp", "b": "mlp"}, "fusion": "late", "head": None}
    torch.manual_seed(0)
    model = build_model(ModelConfig.model_validate(section | {"unimodal_loss_weight": 0.5}), info)
    model.eval()  # no dropout
    assert model.unimodal_heads is None  # no separate classifiers: the late heads are trained
    torch.manual_seed(0)
    plain = build_model(ModelConfig.model_validate(section), info)
    assert list(model.state_dict()) == list(plain.state_dict())  # same parameters as without
    present_b = torch.tensor([True, False, True, True, False])
    inputs = {
        "a": ModalityBatch(torch.randn(5, 3), torch.ones(5, dtype=torch.bool)),
        "b": ModalityBatch(torch.randn(5, 3) * present_b[:, None], present_b),
    }
    batch = Batch([f"s{i}" for i in range(5)], inputs, torch.tensor([0, 1, 2, 3, 1]))
    output, target = model(batch), batch.target
    heads = model.fusion.heads
    logits_a = heads["a"](model.encoders["a"](inputs["a"]).pooled)
    logits_b = heads["b"](model.encoders["b"](inputs["b"]).pooled)
    each = F.cross_entropy(logits_a, target) + F.cross_entropy(
        logits_b[present_b], target[present_b]
    )
    expected = F.cross_entropy(output.output, target) + 0.5 * each / 2
    torch.testing.assert_close(model.loss(output, target), expected)
    torch.testing.assert_close(plain.eval().loss(plain(batch), target), F.cross_entropy(
        plain(batch).output, target))  # fmt: skip
