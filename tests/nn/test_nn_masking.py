"""polymodal.nn.masking: each helper against a loop or hand computation."""

from __future__ import annotations

import torch

from polymodal.nn import (
    key_mask,
    last_valid,
    lengths_of,
    masked_mean,
    masked_softmax,
    present_mean,
    zero_absent,
    zero_invalid,
    zero_padding,
)


def _padding(lengths: list[int], time: int) -> torch.Tensor:
    return torch.arange(time)[None, :] >= torch.tensor(lengths)[:, None]  # [B, T]


def test_masked_mean_equals_a_loop_over_valid_positions() -> None:
    tokens = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0))
    mask = _padding([5, 2, 0], 5)
    out = masked_mean(tokens, mask)
    assert torch.allclose(out[0], tokens[0].mean(dim=0))
    assert torch.allclose(out[1], tokens[1, :2].mean(dim=0))
    assert torch.equal(out[2], torch.zeros(4))  # no valid position: zeros, not NaN
    assert torch.allclose(masked_mean(tokens, None), tokens.mean(dim=1))


def test_masked_mean_ignores_appended_padding() -> None:
    tokens = torch.randn(2, 3, 4)
    mask = _padding([3, 1], 3)
    longer = torch.cat([tokens, torch.full((2, 2, 4), 1e6)], dim=1)
    longer_mask = torch.cat([mask, torch.ones(2, 2, dtype=torch.bool)], dim=1)
    assert torch.allclose(masked_mean(longer, longer_mask), masked_mean(tokens, mask))


def test_present_mean_drops_absent_entries_even_when_not_finite() -> None:
    values = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [float("nan"), 0.0]]]).repeat(2, 1, 1)
    present = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    out = present_mean(values, present)
    assert torch.equal(out[0], torch.tensor([2.0, 4.0]))
    assert torch.equal(out[1], torch.zeros(2))  # nothing present: zeros
    assert torch.equal(present_mean(values, present.bool()), out)


def test_masked_softmax_matches_softmax_over_kept_entries_and_zeros_empty_rows() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[False, True, False], [True, True, True]])
    out = masked_softmax(scores, mask)
    expected = torch.softmax(torch.tensor([1.0, 3.0]), dim=0)
    assert torch.allclose(out[0], torch.tensor([expected[0], 0.0, expected[1]]))
    assert torch.equal(out[1], torch.zeros(3))


def test_zeroing_helpers_block_non_finite_values_and_their_gradients() -> None:
    tokens = torch.tensor([[[1.0], [float("inf")]], [[float("nan")], [2.0]]], requires_grad=True)
    padding = torch.tensor([[False, True], [False, False]])
    present = torch.tensor([True, False])
    assert torch.equal(key_mask(padding, present), torch.tensor([[False, True], [True, True]]))
    out = zero_invalid(tokens, padding, present)
    assert torch.equal(out, torch.tensor([[[1.0], [0.0]], [[0.0], [0.0]]]))
    out.sum().backward()
    assert torch.equal(tokens.grad, torch.tensor([[[1.0], [0.0]], [[0.0], [0.0]]]))
    assert torch.equal(zero_absent(torch.ones(2, 3), present), torch.tensor([[1.0] * 3, [0.0] * 3]))
    assert torch.equal(zero_padding(torch.ones(2, 2, 1), padding)[:, :, 0], (~padding).float())


def test_last_valid_and_lengths_follow_right_padding() -> None:
    tokens = torch.arange(12.0).reshape(2, 3, 2)
    mask = _padding([2, 0], 3)
    assert torch.equal(last_valid(tokens, mask), torch.stack([tokens[0, 1], tokens[1, 0]]))
    assert lengths_of(mask, 2, 3, torch.device("cpu")).tolist() == [2, 1]
    assert lengths_of(None, 2, 3, torch.device("cpu")).tolist() == [3, 3]
