"""The generating model: encoders -> optional interaction -> token memory -> a decoder.

Shape letters: B = batch, S = memory positions (all modalities' tokens), D = memory width,
T = target tokens, V = vocabulary size.

**Memory.** Each modality's token sequence after the encoders and the interaction
(``Features.tokens [B, T_m, D_m]``) is projected to the memory width ``D`` (a linear map; none
when ``D_m == D``), gets a learnt embedding of its modality when there are several (unless the
decoder's ``modality_embedding`` attribute is False: ``causal_lm`` with ``projector: identity``
reads LM token embeddings that must arrive unchanged), and the
sequences are concatenated along time: ``memory [B, S, D]`` with ``S = sum T_m``. Padding and
absent modalities (``present`` False) are masked (``memory_padding_mask`` True); a sample with
no modality at all has every position masked and the decoder's cross-attention gives zeros.

**Targets.** :func:`target_tokens` turns one reference per sample into ids ``[B, T]``: the
tokenizer's ids, cut to ``max_length - 1``, then ``eos``, right-padded with ``pad``. The
decoder reads ``shift_right(targets, bos)``; the loss is the mean cross-entropy over the
non-pad target positions (:meth:`GenerativeModel.loss`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.schema import Batch, Features, ModelOutput, TaskSpec
from polymodal.decoders.base import Decoder, shift_right
from polymodal.decoders.generate import generate
from polymodal.decoders.options import DecodingOptions, Generated
from polymodal.decoders.tokenizer import TargetTokenizer
from polymodal.encoders.base import Encoder
from polymodal.errors import DataError
from polymodal.interaction.base import Interaction

MEMORY_MASK_KEY = "memory_padding_mask"
"""``ModelOutput.extras`` key of the memory's padding mask ``[B, S]`` (True = padding)."""


def reference_choice(references: Sequence[str], sample_id: str, seed: int, epoch: int) -> str:
    """The reference a sample trains on in ``epoch``: one of ``references``, drawn by a hash of
    ``(seed, epoch, sample id)`` (the same in every process and worker, whatever the order)."""
    key = f"{seed}/{epoch}/{sample_id}".encode()
    return references[zlib.crc32(key) % len(references)]


def target_tokens(texts: Sequence[str], tokenizer: TargetTokenizer, max_length: int) -> Tensor:
    """int64 ``[B, T]``: each text's ids cut to ``max_length - 1``, then ``eos``, padded with
    ``pad`` to the longest (``T <= max_length``)."""
    rows = [[*tokenizer.encode(t)[: max_length - 1], tokenizer.eos_id] for t in texts]
    out = torch.full((len(rows), max(len(r) for r in rows)), tokenizer.pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


class GenerativeModel(nn.Module):
    """Encoders (one per used modality), an optional interaction and a decoder over their
    tokens (see the module docs).

    Args:
        encoders: modality name -> encoder, in model order.
        decoder: a :class:`~polymodal.decoders.base.Decoder` built with ``memory_dim``.
        tokenizer: the target tokenizer (ids of the decoder's vocabulary).
        dims: modality -> width of its tokens after the interaction.
        memory_dim: the memory width ``D``.
        interaction: optional cross-modal layers.
    """

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        decoder: Decoder,
        tokenizer: TargetTokenizer,
        dims: Mapping[str, int],
        memory_dim: int,
        interaction: Interaction | None = None,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(dict(encoders))
        self.interaction = interaction
        self.project = nn.ModuleDict(
            {
                m: nn.Identity() if d == memory_dim else nn.Linear(d, memory_dim)
                for m, d in dims.items()
            }
        )
        several = len(dims) > 1 and getattr(decoder, "modality_embedding", True)
        self.modality_embed = nn.Parameter(torch.zeros(len(dims), memory_dim)) if several else None
        if several:
            nn.init.normal_(self.modality_embed, std=memory_dim**-0.5)
        self.decoder = decoder
        self.tokenizer = tokenizer
        self.memory_dim = memory_dim
        self.task = TaskSpec("generation", 0)
        self.frozen_encoders: set[str] = set()

    @property
    def modalities(self) -> list[str]:
        """The modalities the model reads, in order."""
        return list(self.encoders.keys())

    def encode(self, batch: Batch) -> dict[str, Features]:
        """Per-modality features after the encoders and the interaction (if any)."""
        missing = [m for m in self.encoders if m not in batch.inputs]
        if missing:
            raise DataError(
                f"the batch has no {', '.join(repr(m) for m in missing)} modality",
                where=f"batch with modalities {sorted(batch.inputs)}",
                fix="collate every modality the model has an encoder for",
            )
        features = {m: enc(batch.inputs[m]) for m, enc in self.encoders.items()}
        return features if self.interaction is None else self.interaction(features)

    def memory(self, features: Mapping[str, Features]) -> tuple[Tensor, Tensor]:
        """``memory [B, S, D]`` and ``memory_padding_mask [B, S]`` from the features."""
        parts, masks = [], []
        for i, m in enumerate(self.encoders):
            f = features[m]
            tokens = self.project[m](f.tokens)  # [B, T_m, D]
            if self.modality_embed is not None:
                tokens = tokens + self.modality_embed[i]
            parts.append(tokens)
            masks.append(f.padding_mask.bool() | ~f.present.bool()[:, None])
        return torch.cat(parts, dim=1), torch.cat(masks, dim=1)

    def forward(self, batch: Batch) -> ModelOutput:
        """``output`` is the memory ``[B, S, D]``; its mask is ``extras["memory_padding_mask"]``."""
        features = self.encode(batch)
        memory, mask = self.memory(features)
        return ModelOutput(output=memory, features=features, extras={MEMORY_MASK_KEY: mask})

    def logits(self, output: ModelOutput, targets: Tensor) -> Tensor:
        """Teacher-forced logits ``[B, T, V]`` of ``targets [B, T]``."""
        inputs = shift_right(targets, self.tokenizer.bos_id)
        return self.decoder(output.output, output.extras[MEMORY_MASK_KEY], inputs)

    def loss(self, output: ModelOutput, targets: Tensor) -> Tensor:
        """Mean cross-entropy over the non-pad positions of ``targets [B, T]``."""
        logits = self.logits(output, targets)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            targets.reshape(-1),
            ignore_index=self.tokenizer.pad_id,
        )

    def generate(self, batch: Batch, options: DecodingOptions) -> Generated:
        """Decode every sample of ``batch`` (texts detokenized, cut at stop strings); ``bos``,
        ``pad`` and the stop id are the tokenizer's whatever ``options`` says."""
        tok = self.tokenizer
        options = options.model_copy(
            update={"bos_id": tok.bos_id, "pad_id": tok.pad_id, "stop_ids": (tok.eos_id,)}
        )
        with torch.no_grad():
            output = self(batch)
        return generate(
            self.decoder, output.output, output.extras[MEMORY_MASK_KEY], options, tok.decode
        )
