"""Evaluation of generated text: metrics equal to the libraries that define them.

BLEU, chrF, TER (sacrebleu 2.6, its signature beside every score), ROUGE-1/2/L/Lsum
(rouge-score, stemmer on), CIDEr-D and METEOR (pycocoevalcap; METEOR runs Java), exact match and
token F1 (SQuAD normalisation), and BERTScore on the packaged MiniLM (``bertscore_minilm``: not
comparable with published BERTScore; :mod:`~polymodal.evaluate.generation.bertscore`).
Per-sample statistics are computed once into the predictions table; corpus scores, bootstrap
intervals and paired tests come from them (:mod:`~polymodal.evaluate.generation.corpus`,
:mod:`~polymodal.evaluate.generation.significance`). The libraries are the ``generation`` extra.
Captioning baselines (nearest neighbour, best constant caption) write the same predictions
format (:mod:`~polymodal.evaluate.generation.baselines`); report examples of several models'
files: :mod:`~polymodal.evaluate.generation.examples`. SPICE is not available (it needs Stanford
models downloaded at first use).
"""

from polymodal.evaluate.generation.baselines import (
    ConstantCaption,
    best_constant_caption,
    nearest_neighbour_captions,
    write_predictions,
)
from polymodal.evaluate.generation.corpus import (
    DEFAULT_METRICS,
    GENERATION_METRICS,
    GenerationInputs,
    GenerationMetric,
    chosen_generation_metrics,
    generation_metric,
)
from polymodal.evaluate.generation.evaluate import evaluate_generation, guess_tokenizer
from polymodal.evaluate.generation.examples import examples_from_files
from polymodal.evaluate.generation.significance import (
    SacreInterval,
    SacrePaired,
    sacrebleu_indices,
    sacrebleu_interval,
    sacrebleu_paired,
)
from polymodal.evaluate.generation.table import (
    add_statistics,
    inputs_from_table,
    score_texts,
    signatures,
)
from polymodal.evaluate.generation.texts import (
    check_texts,
    read_generation_file,
)

__all__ = [
    "DEFAULT_METRICS",
    "GENERATION_METRICS",
    "ConstantCaption",
    "GenerationInputs",
    "GenerationMetric",
    "SacreInterval",
    "SacrePaired",
    "add_statistics",
    "best_constant_caption",
    "check_texts",
    "chosen_generation_metrics",
    "evaluate_generation",
    "examples_from_files",
    "generation_metric",
    "guess_tokenizer",
    "inputs_from_table",
    "nearest_neighbour_captions",
    "read_generation_file",
    "sacrebleu_indices",
    "sacrebleu_interval",
    "sacrebleu_paired",
    "score_texts",
    "signatures",
    "write_predictions",
]
