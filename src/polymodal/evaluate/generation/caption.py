"""CIDEr-D and METEOR as pycocoevalcap 1.2 computes them, and its PTB tokenisation.

Tokenisation (``tokenize="ptb"``, the COCO caption convention): Stanford PTBTokenizer 3.4.1 from
pycocoevalcap's jar, lower-cased, one line per text, then pycocoevalcap's punctuation tokens
removed; it runs Java once for a whole corpus. ``tokenize="none"`` scores the texts as given
(split on whitespace), as pycocoevalcap's scorers do with pre-tokenised input.

CIDEr-D (pycocoevalcap's ``Cider``; n = 1..4, sigma = 6): tf-idf vectors of n-grams, idf from
the references of the *whole evaluation set* (document frequency = images whose references hold
the n-gram, ``log(N_images) - log(max(1, df))``); per reference, the clipped cosine
``sum min(v_h, v_r) v_r / (|v_h| |v_r|)`` times ``exp(-delta^2 / (2 sigma^2))`` where delta is
the difference of *bigram* counts (pycocoevalcap's length); averaged over orders and references,
times 10. The sentence scores are the per-sample statistic; the corpus score is their mean. The
bootstrap keeps the idf of the full set fixed (resampling sentences, not re-deriving the idf).
This module computes it with sparse matrices, not the library's loops.

METEOR 1.5 (``-l en -norm``) runs pycocoevalcap's jar: one ``SCORE`` line per sample gives its
statistics, an ``EVAL`` line over all samples the corpus score (not the mean of the sentence
scores). Resampled corpus scores are ``EVAL`` lines over the resampled statistics. Without Java
these raise a clear error; they never return a number computed another way.
"""

from __future__ import annotations

import atexit
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

from polymodal.errors import PolymodalError
from polymodal.evaluate.generation._deps import require, require_java

CIDER_ORDER = 4
CIDER_SIGMA = 6.0
PUNCTUATION = frozenset(
    {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-"}
    | {"--", "...", ";"}
)
"""Tokens pycocoevalcap's PTB tokenizer wrapper removes."""


def _package_dir(sub: str) -> Path:
    return Path(next(iter(require("pycocoevalcap").__path__))) / sub


def ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """Texts tokenised as pycocoevalcap's ``PTBTokenizer`` does (one Java call for all)."""
    java = require_java("PTB tokenisation of captions")
    jar = _package_dir("tokenizer") / "stanford-corenlp-3.4.1.jar"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "texts.txt"
        path.write_bytes("\n".join(t.replace("\n", " ") for t in texts).encode("utf-8"))
        cmd = [java, "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer"]
        done = subprocess.run(
            [*cmd, "-preserveLines", "-lowerCase", str(path)], capture_output=True, check=False
        )
    lines = done.stdout.decode("utf-8").split("\n")
    if done.returncode != 0 or len(lines) < len(texts):
        raise PolymodalError(
            f"the PTB tokenizer failed: {done.stderr.decode(errors='replace')[-300:]}",
            fix="check the Java installation",
        )
    return [
        " ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATION)
        for line in lines[: len(texts)]
    ]


# --------------------------------------------------------------------------------------------
# CIDEr-D


def ngram_matrix(texts: Sequence[str], order: int = CIDER_ORDER):
    """Counts of every word n-gram (n = 1..order) of whitespace-split ``texts``, vectorised.

    Returns:
        ``(counts, orders)``: a CSR matrix ``[len(texts), G]`` of n-gram counts and int ``[G]``
        the order - 1 of each n-gram column (an n-gram is a column id: equal n-grams of any
        two texts share it).
    """
    lengths = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64, count=len(texts))
    words = " ".join(texts).split()  # all texts' words, in order
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = np.fromiter(map(vocab.__getitem__, words), dtype=np.int64, count=len(words))
    sentence = np.repeat(np.arange(len(texts)), lengths)
    ends = np.repeat(np.cumsum(lengths), lengths)  # end (exclusive) of each token's text
    position = np.arange(len(ids))
    rows, cols, orders, offset, codes = [], [], [], 0, ids
    for n in range(1, order + 1):
        if n > 1:  # n-gram at i = (n-1)-gram at i, word i + n - 1; renumbered densely
            prev = position[: len(codes) - 1]  # starts with a word n - 1 places on
            pairs = codes[: len(prev)] * (len(vocab) + 1) + ids[prev + n - 1]
            codes = np.unique(pairs, return_inverse=True)[1].ravel()
        starts = position[: len(codes)]
        keep = starts + n <= ends[: len(codes)]
        if not keep.any():
            break
        width = int(codes.max()) + 1  # codes are dense; n-grams across texts stay empty
        rows.append(sentence[: len(codes)][keep])
        cols.append(codes[keep] + offset)
        orders.append(np.full(width, n - 1))
        offset += width
    if not rows:  # no words at all
        return sparse.csr_matrix((len(texts), 0)), np.zeros(0, dtype=np.int64)
    matrix = sparse.csr_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(texts), offset),
    )
    matrix.sum_duplicates()
    return matrix, np.concatenate(orders)


def cider_d_statistics(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> np.ndarray:
    """float64 ``[N]``: each sample's CIDEr-D with the idf of these N samples' references
    (texts already tokenised: see :func:`ptb_tokenize`)."""
    if not len(hypotheses):
        return np.zeros(0)
    owner = np.repeat(np.arange(len(references)), [len(r) for r in references])
    counts, order = ngram_matrix([*hypotheses, *(r for refs in references for r in refs)])
    hyp, ref = counts[: len(hypotheses)], counts[len(hypotheses) :]
    size = counts.shape[1]
    images = sparse.csr_matrix(
        (np.ones(len(owner)), (owner, np.arange(len(owner)))), shape=(len(references), len(owner))
    )
    df = (images @ ref).getnnz(axis=0).astype(np.float64)  # images whose references hold it
    idf = np.log(float(len(references))) - np.log(np.maximum(1.0, df))
    orders = sparse.csr_matrix((np.ones(size), (np.arange(size), order)), shape=(size, CIDER_ORDER))
    bigrams_h = np.asarray(hyp @ (order == 1)).ravel()  # pycocoevalcap's "length"
    bigrams_r = np.asarray(ref @ (order == 1)).ravel()
    hyp, ref = hyp.multiply(idf).tocsr(), ref.multiply(idf).tocsr()
    norm_h = np.sqrt(np.asarray((hyp.multiply(hyp) @ orders).todense()))
    norm_r = np.sqrt(np.asarray((ref.multiply(ref) @ orders).todense()))
    hyp_per_ref = hyp[owner]
    dot = np.asarray((hyp_per_ref.minimum(ref).multiply(ref) @ orders).todense())
    denominator = norm_h[owner] * norm_r
    value = np.where(denominator != 0, dot / np.where(denominator != 0, denominator, 1.0), dot)
    delta = bigrams_h[owner] - bigrams_r
    value = value * np.exp(-(delta**2) / (2 * CIDER_SIGMA**2))[:, None]
    per_image = np.zeros((len(references), CIDER_ORDER))
    np.add.at(per_image, owner, value)
    counts = np.array([len(r) for r in references], dtype=np.float64)
    return per_image.mean(axis=1) / counts * 10.0


# --------------------------------------------------------------------------------------------
# METEOR


class MeteorSession:
    """One METEOR 1.5 Java process (pycocoevalcap's jar and arguments), used as a context."""

    def __init__(self) -> None:
        java = require_java("METEOR")
        folder = _package_dir("meteor")
        cmd = [java, "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
        self._process = subprocess.Popen(
            cmd,
            cwd=folder,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> MeteorSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the Java process."""
        if self._process.poll() is None:
            self._process.stdin.close()  # type: ignore[union-attr]
            self._process.kill()
            self._process.wait()

    def _ask(self, line: str, answers: int) -> list[str]:
        stdin, stdout = self._process.stdin, self._process.stdout
        stdin.write(f"{line}\n".encode())  # type: ignore[union-attr]
        stdin.flush()  # type: ignore[union-attr]
        return [stdout.readline().decode().strip() for _ in range(answers)]  # type: ignore[union-attr]

    def statistics(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[str]:
        """METEOR's statistics line of every sample (as pycocoevalcap's ``_stat``)."""
        out = []
        for hyp, refs in zip(hypotheses, references, strict=True):
            hyp = hyp.replace("|||", "").replace("  ", " ")
            out += self._ask(" ||| ".join(("SCORE", " ||| ".join(refs), hyp)), 1)
        return out

    def evaluate(self, stats: Sequence[str]) -> tuple[float, np.ndarray]:
        """Corpus METEOR and the sentence scores of the samples with these statistics."""
        answers = self._ask("EVAL ||| " + " ||| ".join(stats), len(stats) + 1)
        try:
            values = [float(a) for a in answers]
        except ValueError:
            raise PolymodalError("METEOR returned no score", fix="check the Java runtime") from None
        return values[-1], np.asarray(values[:-1])


_SHARED: list[MeteorSession] = []


def shared_session() -> MeteorSession:
    """One METEOR process for the whole Python process (Java loads its paraphrase tables in
    about 10-20 s): started on first use, ended at exit."""
    require_java("METEOR")  # checked on every use: never a number without the jar's Java
    if not _SHARED or _SHARED[0]._process.poll() is not None:
        _SHARED[:] = [MeteorSession()]
        atexit.register(_SHARED[0].close)
    return _SHARED[0]


def meteor_resampled(stats: Sequence[str], indices: np.ndarray) -> np.ndarray:
    """float ``[R]``: corpus METEOR of each row of sample positions ``indices`` ``[R, M]``."""
    session = shared_session()
    return np.array([session.evaluate([stats[i] for i in row])[0] for row in indices])


def meteor_statistics(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[list[str], np.ndarray, float]:
    """METEOR's statistics lines, sentence scores ``[N]`` and corpus score."""
    session = shared_session()
    stats = session.statistics(hypotheses, references)
    corpus, sentences = session.evaluate(stats)
    return stats, sentences, corpus
