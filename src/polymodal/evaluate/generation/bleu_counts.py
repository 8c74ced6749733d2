"""BLEU's per-sentence statistics, vectorised: a corpus tokenised at once, n-grams counted in numpy.

Equal to sacrebleu 2.6 sentence by sentence (the tests compare them on Tatoeba and Flickr8k):

- tokenisation: sacrebleu's own tokenizer per line, except ``13a`` (the default), which runs its
  four regular expressions once over the whole corpus: every line, padded with a space as 13a
  pads it, is followed by a NUL separator. No pattern can match across a separator (each is
  one character, or two of which neither can be the pad-space-NUL pair), so each line's tokens
  are those of the line alone. A corpus that already holds NUL is tokenised line by line.
- n-grams: words become ids; the n-gram starting at word i is ``code(n-1) * V + id(i + n - 1)``
  (exact in int64 while ``V^4 < 2^63``, else renumbered densely at each order); counts per
  (text, n-gram) come from one ``np.unique`` per order; a sample's reference count of an n-gram is
  the maximum over its references; correct counts are the hypothesis counts clipped by it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

ORDER = 4
SEPARATOR = "\x00"
_SPACED = "".join(map(chr, [*range(0x7B, 0x7F), *range(0x5B, 0x61), *range(0x20, 0x27)]))
_SPACED += "".join(map(chr, [*range(0x28, 0x2C), *range(0x3A, 0x41), 0x2F]))
_RULE_1 = str.maketrans({c: f" {c} " for c in _SPACED})
r"""13a's first rule, ``([\{-\~\[-\` -\&\(-\+\:-\@\/])`` -> `` \1 ``: one character at a time,
so a translation table (C speed, no per-match Python call as ``re.sub`` makes for a template)."""
_RULES_13A: tuple[tuple[re.Pattern, Callable[[re.Match], str]], ...] = (
    (re.compile(r"([^0-9])([\.,])"), lambda m: f"{m[1]} {m[2]} "),
    (re.compile(r"([\.,])([^0-9])"), lambda m: f" {m[1]} {m[2]}"),
    (re.compile(r"([0-9])(-)"), lambda m: f"{m[1]} {m[2]} "),
)
r"""sacrebleu's ``TokenizerRegexp`` rules 2-4 (the second half of 13a), in its order; the
replacements are functions, which Python 3.11 calls faster than it expands ``\1`` templates."""


def tokenize_13a(lines: Sequence[str]) -> list[list[str]]:
    """Each line's 13a tokens, as ``Tokenizer13a()(line).split()``, with one pass per rule."""
    text = "".join(f" {line} {SEPARATOR}" for line in lines)
    if text.count(SEPARATOR) != len(lines):  # a line holds the separator
        from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

        tokenizer = Tokenizer13a()
        return [tokenizer(line).split() for line in lines]
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in text:
        for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
            text = text.replace(entity, char)
    text = text.translate(_RULE_1)
    for pattern, replacement in _RULES_13A:
        text = pattern.sub(replacement, text)
    return [segment.split() for segment in text.split(SEPARATOR)[: len(lines)]]


def _codes(ids: np.ndarray, ends: np.ndarray, vocab: int, n: int, prev: np.ndarray | None):
    """Codes of the n-grams starting at each word (valid where the n-gram fits its text)."""
    starts = np.arange(len(ids) - n + 1)
    valid = starts + n <= ends[: len(starts)]
    if prev is None:
        return ids.copy(), valid
    codes = prev[: len(starts)] * (vocab + 1) + ids[n - 1 :]
    if n < ORDER and (vocab + 1) ** (n + 1) >= 2**62:  # keep the next order's codes in int64
        codes = np.unique(codes, return_inverse=True)[1].ravel()
    return codes, valid


def _order_counts(
    codes: np.ndarray, valid: np.ndarray, text_of: np.ndarray, sample_of_text: np.ndarray,
    num_hyps: int,
) -> np.ndarray:  # fmt: skip
    """int64 ``[N]``: each sample's clipped matches of one order."""
    grams, dense = np.unique(codes[valid], return_inverse=True)
    width = len(grams) + 1
    texts = text_of[: len(valid)][valid]
    keys, counts = np.unique(texts * width + dense.ravel(), return_counts=True)
    text, gram = keys // width, keys % width
    is_hyp = text < num_hyps
    # references: the maximum count over each sample's references
    ref_keys = sample_of_text[text[~is_hyp]] * width + gram[~is_hyp]
    ref_counts = counts[~is_hyp]
    order = np.lexsort((-ref_counts, ref_keys))  # per key, the largest count first
    ref_keys, ref_counts = ref_keys[order], ref_counts[order]
    first = np.ones(len(ref_keys), dtype=bool)
    first[1:] = ref_keys[1:] != ref_keys[:-1]
    ref_keys, ref_counts = ref_keys[first], ref_counts[first]
    hyp_keys, hyp_counts = keys[is_hyp], counts[is_hyp]  # text = sample for hypotheses
    at = np.clip(np.searchsorted(ref_keys, hyp_keys), 0, max(len(ref_keys) - 1, 0))
    found = (ref_keys[at] == hyp_keys) if len(ref_keys) else np.zeros(len(hyp_keys), bool)
    clipped = np.where(found, np.minimum(hyp_counts, ref_counts[at] if len(ref_keys) else 0), 0)
    return np.bincount(hyp_keys // width, weights=clipped, minlength=num_hyps).astype(np.int64)


def _closest_ref_len(hyp_len: np.ndarray, ref_len: np.ndarray, per_sample: np.ndarray):
    """The reference length closest to each hypothesis length (ties: the shorter)."""
    starts = np.concatenate([[0], np.cumsum(per_sample)[:-1]])
    owner = np.repeat(np.arange(len(hyp_len)), per_sample)
    scale = int(ref_len.max(initial=0)) + 1
    key = np.abs(ref_len - hyp_len[owner]) * scale + ref_len
    return np.minimum.reduceat(key, starts) % scale


def bleu_statistics_from_tokens(
    hyp_tokens: Sequence[list[str]], ref_tokens: Sequence[Sequence[list[str]]]
) -> np.ndarray:
    """int64 ``[N, 10]``: hypothesis length, closest reference length, correct and total n-grams
    (n = 1..4) of tokenised sentences (each sample has at least one reference)."""
    per_sample = np.array([len(refs) for refs in ref_tokens], dtype=np.int64)
    texts = [*hyp_tokens, *(r for refs in ref_tokens for r in refs)]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    words = [w for t in texts for w in t]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = np.fromiter(map(vocab.__getitem__, words), dtype=np.int64, count=len(words))
    text_of = np.repeat(np.arange(len(texts)), lengths)
    ends = np.repeat(np.cumsum(lengths), lengths)
    num = len(hyp_tokens)
    sample_of_text = np.concatenate([np.arange(num), np.repeat(np.arange(num), per_sample)])
    out = np.zeros((num, 2 + 2 * ORDER), dtype=np.int64)
    out[:, 0] = lengths[:num]
    out[:, 1] = _closest_ref_len(lengths[:num], lengths[num:], per_sample)
    codes = None
    for n in range(1, ORDER + 1):
        if len(ids) < n:
            break
        codes, valid = _codes(ids, ends, len(vocab), n, codes)
        out[:, 2 + n - 1] = _order_counts(codes, valid, text_of, sample_of_text, num)
        out[:, 2 + ORDER + n - 1] = np.maximum(lengths[:num] - n + 1, 0)
    return out


def tokenized(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    tokenizer: Callable[[str], str] | None,
) -> tuple[list[list[str]], list[list[list[str]]]]:
    """Tokens of every (right-stripped) text; ``tokenizer`` None means 13a, batched."""
    flat = [t.rstrip() for t in [*hypotheses, *(r for refs in references for r in refs)]]
    tokens = tokenize_13a(flat) if tokenizer is None else [tokenizer(t).split() for t in flat]
    hyps, position, refs = tokens[: len(hypotheses)], len(hypotheses), []
    for rs in references:
        refs.append(tokens[position : position + len(rs)])
        position += len(rs)
    return hyps, refs
