"""BLEU, chrF and TER equal sacrebleu 2.6 on real sentences (corpus, resamples, signatures)."""

from __future__ import annotations

import numpy as np
import pytest

sacrebleu = pytest.importorskip("sacrebleu")
from sacrebleu.metrics import BLEU, CHRF, TER  # noqa: E402

from polymodal.evaluate.generation import sacre  # noqa: E402

TOL = 1e-9


def _streams(refs: list[list[str]]) -> list[list[str]]:
    return [list(s) for s in zip(*refs, strict=True)]


@pytest.mark.parametrize(("lang", "tokenize"), [("en", "13a"), ("zh", "zh"), ("en", "none")])
def test_bleu_equals_sacrebleu(tatoeba, lang, tokenize) -> None:
    hyps, refs = tatoeba[f"hyp_{lang}"], [[r] for r in tatoeba[lang]]
    stats = sacre.bleu_statistics(hyps, refs, tokenize=tokenize)
    ours = sacre.bleu_from_sums(stats.sum(axis=0))[0]
    expected = BLEU(tokenize=tokenize).corpus_score(hyps, _streams(refs)).score
    assert ours == pytest.approx(expected, abs=TOL)
    assert 5 < ours < 95  # a real, informative value, not a degenerate 0 or 100


def test_bleu_chrf_ter_with_five_references(flickr) -> None:
    hyps, refs = flickr["hyps"], flickr["refs"]
    streams = _streams(refs)
    for name, lib in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        stats = getattr(sacre, f"{name}_statistics")(hyps, refs)
        ours = getattr(sacre, f"{name}_from_sums")(stats.sum(axis=0))[0]
        assert ours == pytest.approx(lib.corpus_score(hyps, streams).score, abs=TOL), name


def test_chrf_and_ter_equal_sacrebleu_in_english_and_chinese(tatoeba) -> None:
    for lang in ("en", "zh"):
        hyps, refs = tatoeba[f"hyp_{lang}"], [[r] for r in tatoeba[lang]]
        chrf = sacre.chrf_from_sums(sacre.chrf_statistics(hyps, refs).sum(axis=0))[0]
        ter = sacre.ter_from_sums(sacre.ter_statistics(hyps, refs).sum(axis=0))[0]
        assert chrf == pytest.approx(CHRF().corpus_score(hyps, [tatoeba[lang]]).score, abs=TOL)
        assert ter == pytest.approx(TER().corpus_score(hyps, [tatoeba[lang]]).score, abs=TOL)


def test_statistics_equal_sacrebleu_sentence_statistics(flickr) -> None:
    """Row by row, the statistics are sacrebleu's own (so any subset scores the same)."""
    hyps, refs = flickr["hyps"][:60], flickr["refs"][:60]
    for name, lib in (("bleu", BLEU()), ("chrf", CHRF())):
        expected = np.array(lib._extract_corpus_statistics(hyps, _streams(refs)))
        ours = getattr(sacre, f"{name}_statistics")(hyps, refs)
        np.testing.assert_array_equal(ours, expected)


def test_from_sums_equals_sacrebleu_on_resampled_subsets(tatoeba) -> None:
    hyps, refs = tatoeba["hyp_en"], [[r] for r in tatoeba["en"]]
    rng = np.random.default_rng(3)
    for name, lib in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        stats = getattr(sacre, f"{name}_statistics")(hyps, refs)
        rows = [rng.choice(len(hyps), size=k) for k in (1, 2, 7, 600)]
        ours = getattr(sacre, f"{name}_from_sums")(np.stack([stats[r].sum(axis=0) for r in rows]))
        expected = [
            lib.corpus_score([hyps[i] for i in r], [[refs[i][0] for i in r]]).score for r in rows
        ]
        np.testing.assert_allclose(ours, expected, rtol=0, atol=TOL, err_msg=name)


def test_empty_hypotheses_score_zero_not_skipped() -> None:
    hyps, refs = ["", "   "], [["a cat sat on the mat"], ["the dog"]]
    for name in ("bleu", "chrf"):
        stats = getattr(sacre, f"{name}_statistics")(hyps, refs)
        assert getattr(sacre, f"{name}_from_sums")(stats.sum(axis=0))[0] == 0.0
    ter = sacre.ter_statistics(hyps, refs)
    assert ter.tolist() == [[6.0, 6.0], [2.0, 2.0]]  # every reference word deleted, counted


def test_signatures_equal_sacrebleu(tatoeba, flickr) -> None:
    cases = [
        ("bleu", "13a", [[r] for r in tatoeba["en"]], BLEU()),
        ("bleu", "zh", [[r] for r in tatoeba["zh"]], BLEU(tokenize="zh")),
        ("chrf", "13a", flickr["refs"], CHRF()),
        ("ter", "13a", [["a"], ["b", "c"]], TER()),
    ]
    for name, tokenize, refs, lib in cases:
        streams = [[r[k] if k < len(r) else None for r in refs] for k in range(max(map(len, refs)))]
        lib.corpus_score(["x"] * len(refs), streams)
        expected = lib.get_signature().format()
        assert sacre.signature(name, sacre.num_refs(refs), tokenize) == expected


def test_variable_reference_counts_equal_sacrebleu(tatoeba_groups) -> None:
    """Tatoeba's English sentences with all their Chinese translations as references (one to
    several): sacrebleu takes them as streams padded with None (``nrefs:var``)."""
    _sources, refs = tatoeba_groups
    assert len({len(r) for r in refs}) > 1
    hyps = [refs[(i + 1) % len(refs)][0] if i % 3 else refs[i][-1] for i in range(len(refs))]
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(max(map(len, refs)))]
    for name, lib in (("bleu", BLEU(tokenize="zh")), ("chrf", CHRF()), ("ter", TER())):
        stats = getattr(sacre, f"{name}_statistics")
        stats = stats(hyps, refs, tokenize="zh") if name == "bleu" else stats(hyps, refs)
        ours = getattr(sacre, f"{name}_from_sums")(stats.sum(axis=0))[0]
        assert ours == pytest.approx(lib.corpus_score(hyps, streams).score, abs=TOL), name
        assert sacre.signature(name, sacre.num_refs(refs), "zh").startswith("nrefs:var|")
