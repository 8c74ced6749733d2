"""The encoder contract, for every registered encoder (the registry's names, not a kept list).

Each encoder is built with a tiny config for its modality and fed a batch of four samples, two of
which lack the modality. It must return :class:`~polymodal.data.schema.Features` with
``tokens [B, T, D]``, ``pooled [B, D]``, ``padding_mask`` bool ``[B, T]`` and ``present`` bool
``[B]`` (absent samples marked not present), ``out_dim == D``, finite values, and gradients that
reach its parameters. A registered encoder without a case below fails the test, so a new encoder
cannot be skipped silently: add its case here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from polymodal.data.collate import collate_modality
from polymodal.data.schema import Features, ModalityBatch, ModalitySpec
from polymodal.encoders.base import Encoder
from polymodal.registry import ENCODERS
from tiny_lm import save_tiny_lm

PRESENT = [True, False, True, False]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(27)]
TEXT = ModalitySpec("text", "text", (-1,), vocab_size=len(VOCAB), pad_id=0)
TABLE = ModalitySpec("tab", "tabular", (6,))
IMAGE = ModalitySpec("image", "image", (3, 16, 16))
PHOTO = ModalitySpec("photo", "image", (3, 64, 64))
FRAMES = ModalitySpec("audio", "audio", (-1, 8))
VIDEO = ModalitySpec("clip", "video", (-1, 3, 12, 12))


def _values(spec: ModalitySpec, lengths: list[int], gen: torch.Generator) -> list[torch.Tensor]:
    """One input per sample: token ids for text, random floats otherwise; sequences of the
    given lengths."""
    if spec.kind == "text":
        return [torch.randint(5, len(VOCAB), (n,), generator=gen) for n in lengths]
    if spec.is_sequence:
        return [torch.rand(n, *spec.shape[1:], generator=gen) for n in lengths]
    return [torch.rand(*spec.shape, generator=gen) for _ in lengths]


def batch_for(spec: ModalitySpec, seed: int = 0) -> ModalityBatch:
    """A collated batch of four samples, the second and fourth lacking the modality."""
    gen = torch.Generator().manual_seed(seed)
    values = _values(spec, [5, 3, 2, 4], gen)
    return collate_modality([v if p else None for v, p in zip(values, PRESENT, strict=True)], spec)


def tiny_bert(folder: Path) -> str:
    """A tiny random BERT with its tokenizer files, saved like a downloaded checkpoint."""
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tok_config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config))
    return str(folder)


@dataclass(frozen=True)
class Case:
    """How to build one encoder: its modality, its params (``tmp_path`` given for checkpoints
    saved on the fly) and parameters that legitimately get no gradient (name prefixes)."""

    spec: ModalitySpec
    params: Callable[[Path], dict[str, object]]
    unused: tuple[str, ...] = field(default=())
    frozen: bool = False  # nothing trains (the gradient test checks that instead)


CASES: dict[str, Case] = {
    "mlp": Case(TABLE, lambda _: {"out_dim": 8, "hidden_dim": 8, "dropout": 0.0}),
    "cnn": Case(IMAGE, lambda _: {"out_dim": 8, "channels": 4, "num_blocks": 2, "dropout": 0.0}),
    "audio_conv": Case(
        FRAMES, lambda _: {"out_dim": 8, "channels": 4, "num_layers": 2, "dropout": 0.0}
    ),
    "audio_gru": Case(FRAMES, lambda _: {"out_dim": 8, "hidden_dim": 4, "dropout": 0.0}),
    "text_transformer": Case(
        TEXT, lambda _: {"out_dim": 8, "num_layers": 1, "num_heads": 2, "dropout": 0.0}
    ),
    "text_gru": Case(
        TEXT, lambda _: {"out_dim": 8, "embed_dim": 4, "hidden_dim": 4, "dropout": 0.0}
    ),
    "efficientnet_lite": Case(
        PHOTO,
        lambda _: {"pretrained": False, "train_mode": "full", "out_dim": 8},
        unused=("network._fc.",),  # the ImageNet classifier: tokens come before it
    ),
    "hf": Case(
        TEXT,
        lambda tmp: {"checkpoint": tiny_bert(tmp / "bert"), "train_mode": "full"},
        unused=("backbone.pooler.",),  # BERT's pooler: the encoder pools the tokens itself
    ),
    "lm_embedding": Case(
        TEXT, lambda tmp: {"model": str(save_tiny_lm(tmp / "lm", extra=len(VOCAB)))}, frozen=True
    ),
    "video": Case(
        VIDEO,
        lambda _: {
            "frame_encoder": "cnn",
            "frame_encoder_params": {"out_dim": 8, "channels": 4, "num_blocks": 2},
            "temporal": "transformer",
            "heads": 2,
            "dropout": 0.0,
        },
    ),
}


def build(name: str, tmp_path: Path) -> tuple[Encoder, ModalityBatch]:
    if name not in CASES:
        pytest.fail(
            f"encoder {name!r} is registered but has no case in {Path(__file__).name}: add one "
            "(a tiny config for its modality)"
        )
    case = CASES[name]
    torch.manual_seed(0)
    encoder = ENCODERS.create(name, spec=case.spec, **case.params(tmp_path))
    return encoder, batch_for(case.spec)


def test_every_case_is_a_registered_encoder_and_a_missing_case_fails(tmp_path: Path) -> None:
    assert set(CASES) <= set(ENCODERS.names())
    with pytest.raises(pytest.fail.Exception, match="has no case"):
        build("an_encoder_without_a_case", tmp_path)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_returns_features_of_the_documented_shapes(name: str, tmp_path: Path) -> None:
    encoder, batch = build(name, tmp_path)
    features = encoder(batch)
    assert isinstance(features, Features)
    b = len(PRESENT)
    assert features.tokens.dim() == 3
    t, d = features.tokens.shape[1:]
    assert d == encoder.out_dim
    assert tuple(features.pooled.shape) == (b, d)
    assert tuple(features.padding_mask.shape) == (b, t)
    assert features.padding_mask.dtype == torch.bool
    assert features.present.dtype == torch.bool
    assert features.present.tolist() == PRESENT  # absent samples marked not present
    assert torch.isfinite(features.tokens).all()
    assert torch.isfinite(features.pooled).all()


@pytest.mark.parametrize("name", ENCODERS.names())
def test_gradients_reach_every_parameter(name: str, tmp_path: Path) -> None:
    encoder, batch = build(name, tmp_path)
    encoder.train()
    if CASES[name].frozen:
        assert not any(p.requires_grad for p in encoder.parameters())
        return
    features = encoder(batch)
    valid = (~features.padding_mask & features.present[:, None]).unsqueeze(-1)  # [B, T, 1]
    loss = (features.tokens * valid).square().sum() + features.pooled[features.present].sum()
    loss.backward()
    unused = CASES[name].unused
    missing = [
        n
        for n, p in encoder.named_parameters()
        if p.requires_grad and p.grad is None and not n.startswith(unused)
    ]
    assert not missing, f"no gradient reaches {missing}"
    grads = [p.grad for p in encoder.parameters() if p.grad is not None]
    assert grads
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
