"""Tests of polymodal.encoders.lm_embedding: a text modality as the LM's own token embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from polymodal.data.collate import collate_modality
from polymodal.data.schema import ModalitySpec
from polymodal.errors import ConfigError, DataError
from polymodal.registry import ENCODERS

TEXT = ModalitySpec("q", "text", (-1,), vocab_size=10, pad_id=0)


def test_tokens_are_the_lms_input_embeddings_and_padding_is_zero(tiny_lm_dir: Path) -> None:
    encoder = ENCODERS.create("lm_embedding", spec=TEXT, model=str(tiny_lm_dir))
    table = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).get_input_embeddings().weight
    batch = collate_modality([torch.tensor([3, 4, 5]), torch.tensor([9]), None], TEXT)
    features = encoder(batch)
    assert encoder.out_dim == table.shape[1] == 16
    torch.testing.assert_close(features.tokens[0], table[[3, 4, 5]], rtol=0, atol=0)
    torch.testing.assert_close(features.tokens[1, 0], table[9], rtol=0, atol=0)
    assert features.padding_mask[:2].tolist() == [[False] * 3, [False, True, True]]
    assert features.tokens[1, 1:].abs().sum() == 0
    torch.testing.assert_close(features.pooled[0], table[[3, 4, 5]].mean(dim=0))
    assert features.present.tolist() == [True, True, False]
    assert not any(p.requires_grad for p in encoder.parameters())


def test_an_id_past_the_table_and_a_non_text_modality_are_refused(tiny_lm_dir: Path) -> None:
    encoder = ENCODERS.create("lm_embedding", spec=TEXT, model=str(tiny_lm_dir))
    with pytest.raises(DataError, match="past the LM's 10 embeddings"):
        encoder(collate_modality([torch.tensor([3, 10])], TEXT))
    image = ModalitySpec("img", "image", (3, 8, 8))
    with pytest.raises(ConfigError, match="reads text"):
        ENCODERS.create("lm_embedding", spec=image, model=str(tiny_lm_dir))
