"""A generation run's target tokenizer on disk, and loading a trained generation run back.

``checkpoint/target_tokenizer.json`` holds ``{"source": "fitted", "state": {...}}`` (a
:class:`~polymodal.decoders.vocab.TextVocabulary` fitted on the training references, its JSON
state) or ``{"source": "decoder"}`` (the decoder's own pretrained vocabulary, rebuilt with the
decoder). With it and the weights, a run reloads without reading its training data again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from polymodal.config import ExperimentConfig
from polymodal.data.bundle import DataBundle
from polymodal.decoders.tokenizer import TargetTokenizer
from polymodal.decoders.vocab import TextVocabulary, vocabulary_from_state
from polymodal.errors import CheckpointError
from polymodal.io import write_json_atomic
from polymodal.models.generative import GenerativeModel
from polymodal.models.generative_builder import build_generative_model
from polymodal.rundir.layout import target_tokenizer_path
from polymodal.rundir.load import load_best_weights, load_run_config, load_run_data


def tokenizer_record(model: GenerativeModel) -> dict[str, Any]:
    """What ``target_tokenizer.json`` holds for ``model`` (see the module docs)."""
    if model.tokenizer is getattr(model.decoder, "tokenizer", None):
        return {"source": "decoder"}
    if isinstance(model.tokenizer, TextVocabulary):
        return {"source": "fitted", "state": model.tokenizer.state_dict()}
    raise CheckpointError(
        f"cannot save a target tokenizer of type {type(model.tokenizer).__name__}",
        fix="use a TextVocabulary, or a decoder exposing its own tokenizer",
    )


def save_target_tokenizer(model: GenerativeModel, run_dir: str | Path) -> Path:
    """Write ``checkpoint/target_tokenizer.json`` of ``model``; returns its path."""
    path = target_tokenizer_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, tokenizer_record(model))
    return path


def load_target_tokenizer(run_dir: str | Path) -> TargetTokenizer | None:
    """The saved fitted tokenizer, or None when the run uses the decoder's own.

    Raises:
        CheckpointError: the run has no ``target_tokenizer.json``.
    """
    path = target_tokenizer_path(run_dir)
    if not path.is_file():
        raise CheckpointError(
            "the generation run has no target tokenizer (checkpoint/target_tokenizer.json)",
            where=str(run_dir),
            fix="train it first with `polymodal train`",
        )
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("source") == "decoder":
        return None
    return vocabulary_from_state(record.get("state", {}))


def load_generative_model(
    run_dir: str | Path, config: ExperimentConfig, bundle: DataBundle
) -> GenerativeModel:
    """The run's best generating model (eval mode) for ``bundle``'s dataset."""
    assert config.model is not None
    tokenizer = load_target_tokenizer(run_dir)
    model = build_generative_model(config.model, bundle.info, tokenizer, (), config.generation)
    load_best_weights(model, run_dir)
    return model


def load_generative_run(
    run_dir: str | Path,
) -> tuple[ExperimentConfig, DataBundle, GenerativeModel]:
    """A trained generation run: its config, its data (same preprocessing) and its model."""
    config = load_run_config(run_dir)
    bundle = load_run_data(run_dir, config)
    return config, bundle, load_generative_model(run_dir, config, bundle)
