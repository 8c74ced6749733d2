"""``translation``: write the target sentence from the source sentence (task ``generation``).

The file is the one ``translation-pairs`` reads (TSV or CSV of aligned pairs, e.g. Tatoeba's
``cmn-eng.tsv``: ``English<TAB>Chinese<TAB>attribution``); ``source_column`` and
``target_column`` say which side is which (default: Chinese -> English). Steps, all seeded by
``split_seed`` (default: the run's seed):

1. **Read** with :func:`~polymodal.data.builtin.translation_pairs.read_pairs` (same rules:
   blank lines skipped, cells stripped, identical pairs kept once, bad lines listed).
2. **Limit**: with ``limit``, ``limit`` pairs drawn at random (then in file order).
3. **Split by source sentence**: pairs sharing their source sentence are one group, wholly in
   one split; the fractions count groups (the ``translation-pairs`` split).
4. **One sample per source sentence**: its references are every target sentence paired with it
   (Tatoeba: "Hi." has two Chinese translations, so the en -> zh sample "Hi." has two
   references), in file order; the id is ``p<line>`` of its first pair.

**Draft** (``draft: NAME``): a second input modality, a degraded draft of the target: the
first reference split on whitespace, each word dropped with probability ``drop_rate`` (drawn by
``(seed, 3, line)``), the others joined by one space. With the source, it is the seed's
"two languages as two modalities" case (Chinese + a poor English draft -> English); a model
that reads only some modalities (its encoders) gives the draft-only and source-only baselines.

Tokenizers (``tokenizers``, per input modality, the options of a manifest's text modality):
learnt on the training split; by default ``char`` for a modality whose name ends in ``_zh``,
else ``word``, ``max_length`` 32. The target text is not tokenized here: a generating model
fits its own target tokenizer on the training references.

Example (zh -> en, and the draft)::

    data:
      name: translation
      path: ../shared/data/tatoeba-cmn-eng/cmn-eng.tsv
      source: text_zh          # source modality, column 1
      draft: text_draft        # optional: the English draft, words dropped
      drop_rate: 0.5
      limit: 4000
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pydantic

from polymodal.data.builtin.translation_pairs import Pair, distinct, read_pairs, split_by_left, take
from polymodal.data.bundle import DataBundle, ListDataset
from polymodal.data.schema import DatasetInfo, Sample, TaskSpec
from polymodal.data.splits import fraction_problem
from polymodal.data.transforms.text import Tokenizer
from polymodal.data.transforms.text_options import TextOptions, fit_tokenizer, text_spec
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

NAME = "translation"
STATE_VERSION = 1
_TOKENIZERS = pydantic.TypeAdapter(dict[str, TextOptions])


def degrade(text: str, drop_rate: float, rng: np.random.Generator) -> str:
    """``text``'s whitespace words, each dropped with probability ``drop_rate``, joined by one
    space (one uniform draw per word, in order)."""
    words = text.split()
    keep = rng.random(len(words)) >= drop_rate
    return " ".join(w for w, k in zip(words, keep, strict=True) if k)


def group_by_source(pairs: list[Pair]) -> list[tuple[Pair, tuple[str, ...]]]:
    """One entry per source sentence (``Pair.left``): its first pair and every target sentence
    paired with it, in file order."""
    targets: dict[str, list[str]] = defaultdict(list)
    first: dict[str, Pair] = {}
    for p in pairs:
        first.setdefault(p.left, p)
        targets[p.left].append(p.right)
    return [(first[s], tuple(targets[s])) for s in first]


def _check(params: dict[str, Any]) -> dict[str, TextOptions]:
    problems = []
    if params["draft"] is not None and params["draft"] == params["source"]:
        problems.append("draft: the draft needs a name of its own, not the source's")
    if not 0.0 <= params["drop_rate"] < 1.0:
        problems.append(f"drop_rate: a probability in [0, 1), got {params['drop_rate']}")
    if params["limit"] is not None and params["limit"] < 2:
        problems.append(f"limit: at least 2 pairs (or null), got {params['limit']}")
    if (fractions := fraction_problem(params["val_fraction"], params["test_fraction"])) is not None:
        problems.append(fractions)
    names = [params["source"]] + ([params["draft"]] if params["draft"] else [])
    try:
        given = _TOKENIZERS.validate_python(params["tokenizers"] or {})
    except pydantic.ValidationError as exc:
        given = {}
        problems += [
            f"tokenizers.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
    problems += [f"tokenizers.{n}: not an input modality ({', '.join(names)})" for n in given
                 if n not in names]  # fmt: skip
    if problems:
        raise ConfigError(problems, source=f"data ({NAME})")
    default = {n: TextOptions(tokenizer="char" if n.endswith("_zh") else "word") for n in names}
    return default | {n: o for n, o in given.items() if n in names}


def _check_state(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if not state:
        return None
    if not isinstance(state, dict) or state.get("dataset") != NAME:
        raise DataError(
            f"the state is not a {NAME} state",
            where="state",
            fix=f"pass the state saved by a {NAME} build, unchanged",
        )
    return state


@DATASETS.register(NAME)
def translation(
    *,
    seed: int,
    state: dict[str, Any] | None = None,
    path: str,
    source: str = "text_zh",
    source_column: int | str = 1,
    target_column: int | str = 0,
    draft: str | None = None,
    drop_rate: float = 0.3,
    delimiter: str | None = None,
    header: bool = False,
    tokenizers: dict[str, TextOptions] | None = None,
    limit: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int | None = None,
) -> DataBundle:
    """Aligned sentence pairs as a generation task: source sentence(s) in, target text out.

    Args:
        seed: seed of the limit, the split and the drafts, unless ``split_seed``. Injected.
        state: ``DataBundle.state`` of an earlier build: reuse its tokenizer vocabularies.
        path: the TSV / CSV file of aligned pairs, one a line.
        source: the source sentence's modality name.
        source_column, target_column: column indices (or names, with ``header``).
        draft: name of an extra input modality holding a degraded draft of the target; None:
            no draft.
        drop_rate: the draft's probability of dropping each word.
        delimiter: the cell separator; default a tab, or a comma for a ``.csv`` file.
        header: the first line names the columns.
        tokenizers: input modality -> :class:`TextOptions` (defaults in the module docs).
        limit: keep this many distinct pairs (seeded), for speed; None keeps all.
        val_fraction, test_fraction: share of source sentences in val / test.
        split_seed: seed of the limit, the split and the drafts; None uses ``seed``.

    Returns a :class:`DataBundle` of ``train``, ``val``, ``test`` (task ``generation``; each
    sample's ``references`` are the target sentences), state ``{"version", "dataset",
    "tokenizers"}``. Raises ConfigError for invalid parameters, DataError for an unusable file.
    """
    options = _check(dict(locals()))
    state = _check_state(state)
    rng_seed = seed if split_seed is None else split_seed
    sep = delimiter or ("," if Path(path).suffix.lower() == ".csv" else "\t")
    pairs = distinct(read_pairs(path, (source_column, target_column), delimiter=sep, header=header))
    splits = split_by_left(take(pairs, limit, rng_seed), val_fraction, test_fraction, rng_seed)
    groups = {s: group_by_source(members) for s, members in splits.items()}
    return _bundle(groups, options, state, source, draft, drop_rate, rng_seed, str(path))


def _bundle(
    groups: dict[str, list[tuple[Pair, tuple[str, ...]]]],
    options: dict[str, TextOptions],
    state: dict[str, Any] | None,
    source: str,
    draft: str | None,
    drop_rate: float,
    seed: int,
    path: str,
) -> DataBundle:
    """Drafts drawn, tokenizers fitted on the training split (or from ``state``), samples."""
    drafts = {
        s: [degrade(refs[0], drop_rate, np.random.default_rng((seed, 3, p.line)))
            for p, refs in members]
        for s, members in groups.items()
    }  # fmt: skip
    train_texts = {source: [p.left for p, _ in groups["train"]]}
    if draft is not None:
        train_texts[draft] = drafts["train"]
    saved = None if state is None else state.get("tokenizers", {})
    tokenizers = {n: fit_tokenizer(n, o, train_texts[n], saved, where="state")
                  for n, o in options.items()}  # fmt: skip
    datasets = {
        s: ListDataset(_samples(members, drafts[s], source, draft, tokenizers, options))
        for s, members in groups.items()
    }
    modalities = {n: text_spec(n, tokenizers[n], options[n]) for n in options}
    about = f"{sum(len(g) for g in groups.values())} source sentences of {path}"
    return DataBundle(
        info=DatasetInfo(NAME, modalities, TaskSpec("generation", 0), about),
        splits=datasets,  # type: ignore[arg-type]
        state={
            "version": STATE_VERSION,
            "dataset": NAME,
            "tokenizers": {n: t.state_dict() for n, t in tokenizers.items()},
        },
    )


def _samples(
    members: list[tuple[Pair, tuple[str, ...]]],
    drafts: list[str],
    source: str,
    draft: str | None,
    tokenizers: dict[str, Tokenizer],
    options: dict[str, TextOptions],
) -> list[Sample]:
    """One sample per source sentence: its token ids (and its draft's), its references."""
    out = []
    for (pair, refs), text in zip(members, drafts, strict=True):
        inputs = {source: tokenizers[source].encode(pair.left, options[source].max_length)}
        if draft is not None:
            inputs[draft] = tokenizers[draft].encode(text, options[draft].max_length)
        out.append(Sample(f"p{pair.line}", inputs, references=refs))  # type: ignore[arg-type]
    return out
