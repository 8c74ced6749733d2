"""Resampled corpus scores and sacrebleu's bootstrap conventions, from per-sample statistics."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sacrebleu")
from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.significance import _paired_bs_test

from polymodal.evaluate.generation import (
    generation_metric,
    inputs_from_table,
    sacrebleu_interval,
    sacrebleu_paired,
    score_texts,
)
from polymodal.evaluate.generation.table import add_statistics
from polymodal.evaluate.stats import bootstrap_ci, paired_bootstrap

LIBS = {"bleu": BLEU, "chrf": CHRF, "ter": TER}


def _inputs(hyps, refs, names=("bleu", "chrf", "ter")):
    import pandas as pd

    stats, options = score_texts(hyps, refs, list(names))
    table = add_statistics(pd.DataFrame({"hypothesis": hyps}), stats)
    return inputs_from_table(table, options)


@pytest.fixture(scope="module")
def systems(tatoeba):
    refs = [[r] for r in tatoeba["en"]]
    return _inputs(tatoeba["hyp_en"], refs), _inputs(tatoeba["hyp_en_b"], refs)


def test_compute_resampled_equals_rescoring_each_resample(tatoeba, systems) -> None:
    """Rows of any length (bootstrap N, jackknife N - 1) equal sacrebleu on those sentences."""
    hyps, refs = tatoeba["hyp_en"], tatoeba["en"]
    rng = np.random.default_rng(0)
    for m in (600, 599):
        rows = rng.integers(0, 600, size=(3, m))
        for name, lib in LIBS.items():
            ours = generation_metric(name).compute_resampled(systems[0], rows)
            expected = [
                lib().corpus_score([hyps[i] for i in r], [[refs[i] for i in r]]).score for r in rows
            ]
            np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9, err_msg=name)


def test_indices_are_sacrebleus_draws() -> None:
    from polymodal.evaluate.generation import sacrebleu_indices

    for n, r in ((1, 3), (7, 50), (600, 20), (100_003, 4)):
        expected = np.random.default_rng(12345).choice(n, size=(r, n), replace=True)
        np.testing.assert_array_equal(sacrebleu_indices(n, r), expected)


def test_interval_equals_sacrebleu_confidence(tatoeba, systems, monkeypatch) -> None:
    monkeypatch.setenv("SACREBLEU_SEED", "12345")
    for name, lib in LIBS.items():
        score = lib().corpus_score(tatoeba["hyp_en"], [tatoeba["en"]], n_bootstrap=200)
        ours = sacrebleu_interval(generation_metric(name), systems[0], resamples=200)
        assert ours.score == pytest.approx(score.score, abs=1e-9)
        assert ours.mean == pytest.approx(score._mean, abs=1e-4)  # sacrebleu: float32 sums
        assert ours.half_width == pytest.approx(score._ci, abs=1e-4)


def test_paired_test_equals_sacrebleu_paired_bootstrap(tatoeba, systems) -> None:
    refs = [tatoeba["en"]]
    for name, lib in LIBS.items():
        metric = lib()
        bl_stats = metric._extract_corpus_statistics(tatoeba["hyp_en"], refs)
        info = {name: (bl_stats, metric._aggregate_and_compute(bl_stats))}
        _, result = _paired_bs_test(
            info, "b", tatoeba["hyp_en_b"], refs, {name: lib()}, n_samples=300, seed=12345
        )
        ours = sacrebleu_paired(generation_metric(name), *systems, resamples=300, seed=12345)
        expected = result[name]
        assert ours.system == pytest.approx(expected.score, abs=1e-9)
        assert ours.p_value == pytest.approx(expected.p_value, abs=1e-12)
        assert ours.system_interval.mean == pytest.approx(expected.mean, abs=1e-4)
        assert ours.system_interval.half_width == pytest.approx(expected.ci, abs=1e-4)


def test_harness_interval_and_paired_test_work_on_generation_metrics(systems) -> None:
    bleu = generation_metric("bleu")
    ci = bootstrap_ci(bleu, systems[0], 600, resamples=300, method="bca", seed=1)
    assert ci.low < ci.estimate < ci.high
    same = paired_bootstrap(bleu, systems[0], systems[0], 600, resamples=100)
    assert (same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 1.0)
    diff = paired_bootstrap(bleu, systems[0], systems[1], 600, resamples=300)
    assert diff.difference == pytest.approx(bleu.compute(systems[0]) - bleu.compute(systems[1]))
    assert diff.ci_low <= diff.difference <= diff.ci_high


def test_streamed_sums_equal_the_sums_over_sacrebleus_index_rows() -> None:
    """Rows drawn a chunk at a time are sacrebleu's rows: the sums are equal exactly."""
    from polymodal.evaluate.generation.corpus import resampled_sums
    from polymodal.evaluate.generation.significance import sacrebleu_indices, sacrebleu_sums

    rng = np.random.default_rng(3)
    for n, r in ((1, 3), (7, 50), (10_000, 23), (70_000, 5)):
        stats = rng.integers(0, 40, size=(n, 10)).astype(np.float64)
        expected = resampled_sums(stats, sacrebleu_indices(n, r, 12345))
        by_hand = np.stack([stats[row].sum(axis=0) for row in sacrebleu_indices(n, r, 12345)])
        np.testing.assert_array_equal(sacrebleu_sums(stats, r, 12345), expected)
        np.testing.assert_array_equal(expected, by_hand)
    fractional = rng.random((500, 3))  # not integers: summed in float64
    np.testing.assert_allclose(
        sacrebleu_sums(fractional, 40, 7),
        np.stack([fractional[row].sum(axis=0) for row in sacrebleu_indices(500, 40, 7)]),
        rtol=1e-12,
    )
