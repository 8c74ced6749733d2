"""Tests of image-text matching with hard negatives (polymodal.objectives.matching)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.errors import DataError
from polymodal.heads.matching import MatchingHead
from polymodal.objectives.matching import MatchingLoss, matching_pairs, mine_hard_negatives


def _sim(b: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, b, generator=torch.Generator().manual_seed(seed)) * 3


def test_mined_negative_is_never_the_positive() -> None:
    gen = torch.Generator().manual_seed(0)
    for seed in range(30):
        sim = _sim(5, seed)
        sim.diagonal().fill_(50.0)  # the positive is by far the most similar
        neg = mine_hard_negatives(sim, generator=gen)
        assert not bool((neg == torch.arange(5)).any())
    positives = torch.eye(4, dtype=torch.bool)
    positives[0, 1] = positives[0, 2] = True  # duplicate captions of sample 0
    for seed in range(30):
        neg = mine_hard_negatives(_sim(4, seed), positives=positives, generator=gen)
        assert neg[0].item() == 3
        assert not bool(positives[torch.arange(4), neg].any())


def test_hardest_mode_takes_the_argmax_off_the_diagonal() -> None:
    sim = _sim(6, 3)
    expected = sim.masked_fill(torch.eye(6, dtype=torch.bool), float("-inf")).argmax(dim=1)
    hand = [max((j for j in range(6) if j != i), key=lambda j: sim[i, j].item()) for i in range(6)]
    assert torch.equal(mine_hard_negatives(sim, hardest=True), expected)
    assert expected.tolist() == hand


def test_sampling_follows_the_softmax_without_the_positive() -> None:
    sim = torch.tensor([[9.0, 1.0, 0.0], [0.5, 9.0, 2.0], [1.0, -1.0, 9.0]])
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([mine_hard_negatives(sim, generator=gen) for _ in range(3000)])  # [R, 3]
    for i in range(3):
        others = [j for j in range(3) if j != i]
        weights = np.exp(sim[i, others].numpy())
        expected = weights / weights.sum()
        freq = [(draws[:, i] == j).float().mean().item() for j in others]
        np.testing.assert_allclose(freq, expected, atol=0.03)


def test_sampling_is_deterministic_with_a_generator() -> None:
    sim = _sim(16)
    first = mine_hard_negatives(sim, generator=torch.Generator().manual_seed(7))
    again = mine_hard_negatives(sim, generator=torch.Generator().manual_seed(7))
    other = mine_hard_negatives(sim, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_pairs_leave_absent_samples_out() -> None:
    present_a = torch.tensor([True, False, True, True, True])
    pairs = matching_pairs(_sim(5), present_a=present_a, generator=torch.Generator().manual_seed(0))
    assert pairs.label.tolist() == [1] * 4 + [0] * 8
    assert 1 not in pairs.index_a.tolist()
    assert 1 not in pairs.index_b.tolist()
    assert torch.equal(pairs.index_a[:4], pairs.index_b[:4])
    assert not bool((pairs.index_a[4:] == pairs.index_b[4:]).any())  # negatives mismatch


def test_loss_equals_a_hand_computation() -> None:
    torch.manual_seed(0)
    rep_a, rep_b = torch.randn(4, 3), torch.randn(4, 2)
    sim = _sim(4, 5)
    head = MatchingHead(in_dim=5)
    loss = MatchingLoss(head, hardest=True)(rep_a, rep_b, sim)
    off = sim.masked_fill(torch.eye(4, dtype=torch.bool), float("-inf"))
    neg_b, neg_a = off.argmax(dim=1), off.argmax(dim=0)  # hardest b for a_i, hardest a for b_i
    w = head.net[1].weight.detach().numpy()
    bias = head.net[1].bias.detach().numpy()
    a, b = rep_a.numpy(), rep_b.numpy()
    rows = (
        [(a[i], b[i], 1) for i in range(4)]
        + [(a[i], b[neg_b[i]], 0) for i in range(4)]
        + [(a[neg_a[i]], b[i], 0) for i in range(4)]
    )
    nll = []
    for x, y, label in rows:
        z = np.concatenate([x, y]) @ w.T + bias
        nll.append(-(z[label] - np.log(np.exp(z).sum())))
    np.testing.assert_allclose(loss.item(), np.mean(nll), rtol=1e-5)


def test_a_single_pair_cannot_be_mined() -> None:
    with pytest.raises(DataError, match="no negative candidate"):
        mine_hard_negatives(torch.zeros(1, 1))
    with pytest.raises(DataError, match="positive mask"):
        mine_hard_negatives(torch.zeros(2, 3))
