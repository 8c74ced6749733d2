"""``lm_embedding``: a text modality as a pretrained causal LM's own token embeddings.

LLaVA-style models (Liu et al. 2023) put the image's projected tokens and the *question's own
token embeddings* before the answer: the LM reads the question as text, not through a learnt
encoder. This encoder gives a text modality exactly that: ``tokens [B, T, E]`` are rows of the
LM's input embedding table (a frozen copy; nothing trains), ``E`` the LM's width. With the
``causal_lm`` decoder's ``projector: identity`` the rows reach the LM unchanged.

The modality must be tokenised by the same LM's tokenizer (``tokenizer: hf`` with
``tokenizer_path`` naming the same model, e.g. the packaged SmolLM2 ``.gguf``); an id past the
table is a :class:`~polymodal.errors.DataError`. ``pooled`` is the mean over non-padding tokens.
"""

from __future__ import annotations

import os

from torch import nn

from polymodal.data.schema import Features, ModalityBatch, ModalitySpec
from polymodal.encoders.base import Encoder
from polymodal.errors import ConfigError, DataError
from polymodal.lm_source import SMOLLM2, load_causal_lm
from polymodal.nn import masked_mean, no_padding
from polymodal.registry import ENCODERS


@ENCODERS.register("lm_embedding")
class LMEmbeddingEncoder(Encoder):
    """Token ids ``[B, T]`` -> the LM's input embeddings ``[B, T, E]`` (frozen).

    Args:
        spec: the modality (injected); a text modality.
        model: the LM, as ``causal_lm``'s ``model`` (Hub id, folder, ``.gguf``,
            ``package:NAME/...``); default the packaged SmolLM2-135M-Instruct.
        gguf_file: a GGUF file inside the folder or Hub repository ``model``.
        cache_dir: the GGUF conversion cache (default ``$POLYMODAL_LM_CACHE``; neither: none).
    """

    def __init__(
        self,
        spec: ModalitySpec,
        model: str = SMOLLM2,
        gguf_file: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(spec)
        if spec.kind != "text":
            raise ConfigError(
                [f"encoder 'lm_embedding' reads text; modality {spec.name!r} is {spec.kind!r}"]
            )
        table = load_causal_lm(model, gguf_file, cache_dir).lm.get_input_embeddings().weight
        self.embedding = nn.Embedding.from_pretrained(table.detach().float().clone(), freeze=True)
        self.out_dim = int(table.shape[1])

    def forward(self, batch: ModalityBatch) -> Features:
        ids = batch.values.long()  # [B, T]
        rows = self.embedding.num_embeddings
        if ids.numel() and (int(ids.max()) >= rows or int(ids.min()) < 0):
            raise DataError(
                f"token id {int(ids.max())} is past the LM's {rows} embeddings",
                where=f"modality {self.modality!r} (encoder 'lm_embedding')",
                fix="tokenise the modality with the same LM's tokenizer (tokenizer: hf, "
                "tokenizer_path: the LM)",
            )
        b, t = ids.shape
        mask = (
            batch.padding_mask if batch.padding_mask is not None else no_padding(b, t, ids.device)
        )
        tokens = self.embedding(ids)  # [B, T, E]
        tokens = tokens.masked_fill(mask[..., None], 0.0)
        return Features(
            tokens=tokens,
            pooled=masked_mean(tokens, mask),  # [B, E]
            padding_mask=mask,
            present=batch.present,
        )
