"""Evaluate a trained generation run: decode a split, score the texts, write the report.

One pass of the run's best model over the split with the config's ``generation:`` settings
(:func:`decoding_options`) gives the predictions table: ``id``, ``hypothesis``, ``references``
(every reference of the sample), ``finish`` (``stop_id``, ``stop_string`` or ``length``),
``num_tokens`` and ``score`` (the decoder's summed log-probability, or beam search's penalised
score), ``perturbation`` ``none``, and ``image`` (each sample's photo path) when the dataset
knows its photos (:mod:`~polymodal.evaluate.generation.photos`); then every per-sample
statistic the metrics need
(:func:`~polymodal.evaluate.generation.evaluate.score_generation_table`). The metrics are the
config's ``eval.metrics`` (default :data:`~polymodal.evaluate.generation.DEFAULT_METRICS`), each
with a bootstrap interval over sentences; BLEU uses ``generation.bleu_tokenize`` (default:
``zh`` for Chinese references, else ``13a``), recorded in its signature.

Decoding is deterministic: greedy and beam search always, sampling for the same
``generation.seed`` and batch size (one seeded generator per batch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import Dataset

from polymodal.config.generation import GenerationConfig
from polymodal.data.loading import make_dataloader
from polymodal.data.schema import ModalitySpec, Sample
from polymodal.decoders.options import DecodingOptions
from polymodal.errors import PolymodalError
from polymodal.evaluate.generation.evaluate import score_generation_table
from polymodal.evaluate.generation.photos import PHOTO_COLUMN, photo_paths
from polymodal.models.generative import GenerativeModel
from polymodal.rundir.generative import load_generative_run
from polymodal.rundir.load import evaluation_split, weights_selection

_DECODING_KEYS = (
    "strategy", "max_new_tokens", "beam_width", "length_penalty", "alpha", "temperature",
    "top_p", "seed",
)  # fmt: skip


def decoding_options(gen: GenerationConfig) -> DecodingOptions:
    """The decoding options of a ``generation:`` section (``stop`` -> ``stop_strings``; the
    special ids are set from the tokenizer by :meth:`GenerativeModel.generate`)."""
    values = {key: getattr(gen, key) for key in _DECODING_KEYS}
    return DecodingOptions(**values, stop_strings=tuple(gen.stop))


def generation_table(
    model: GenerativeModel,
    dataset: Dataset[Sample],
    used: dict[str, ModalitySpec],
    options: DecodingOptions,
    batch_size: int,
) -> pd.DataFrame:
    """The predictions table of ``dataset`` (columns in the module docs), in dataset order."""
    model.eval()
    rows: list[dict[str, Any]] = []
    device = next(model.parameters()).device
    for batch in make_dataloader(dataset, used, batch_size=batch_size):
        if batch.references is None:
            raise PolymodalError(
                "the split has no reference texts", fix="evaluate a generation dataset"
            )
        with torch.no_grad():
            out = model.generate(batch.to(device), options)
        texts = out.texts or [""] * len(batch)
        for i, sample_id in enumerate(batch.ids):
            rows.append({
                "id": sample_id, "hypothesis": texts[i], "references": list(batch.references[i]),
                "finish": out.finish[i], "num_tokens": len(out.tokens[i]),
                "score": float(out.scores[i]), "perturbation": "none", "severity": 0,
            })  # fmt: skip
    return pd.DataFrame(rows)


def evaluate_generation_run(
    run_dir: str | Path,
    *,
    split: str | None = None,
    metrics: list[str] | None = None,
    batch_size: int | None = None,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Decode ``split`` (default: the config's ``eval.split``) with the run's best model and
    score it; writes ``predictions.parquet``, ``metrics.json`` and ``report.md`` into
    ``run_dir``. Returns the ``metrics.json`` payload and the table."""
    run_dir = Path(run_dir)
    config, bundle, model = load_generative_run(run_dir)
    split, dataset = evaluation_split(config, bundle, split, run_dir)
    size = batch_size or config.eval.batch_size or config.train.batch_size
    assert config.model is not None
    used = {m: bundle.info.modalities[m] for m in config.model.encoders}
    options = decoding_options(config.generation)
    table = generation_table(model, dataset, used, options, size)
    if (photos := photo_paths(dataset, used)) is not None:
        table[PHOTO_COLUMN] = photos  # the dataset's order, as the table's
    header: dict[str, Any] = {
        "run": config.name or run_dir.name, "dataset": config.data.name, "split": split,
        "decoding": options.model_dump(mode="json", exclude={"bos_id", "pad_id", "stop_ids"}),
        "modalities": list(used),
    }  # fmt: skip
    if weights := weights_selection(run_dir):
        header["weights"] = weights
    gen = config.generation
    payload = score_generation_table(
        table, run_dir, header, metrics=metrics or config.eval.metrics,
        tokenize=gen.bleu_tokenize, caption_tokenize=gen.caption_tokenize,
        resamples=resamples, level=level, seed=seed,
    )  # fmt: skip
    return payload, table
