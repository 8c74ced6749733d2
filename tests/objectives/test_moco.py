"""Tests of cross-modal momentum contrast (polymodal.objectives.moco)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from polymodal.data.schema import Batch, ModalityBatch
from polymodal.errors import ConfigError
from polymodal.objectives.moco import CrossModalMoCo, FeatureQueue, moco_loss, momentum_update


class LinearTower(nn.Module):
    """Embeds one modality's values with a linear map: ``[B, F] -> [B, D]``."""

    def __init__(self, modality: str, in_dim: int, dim: int) -> None:
        super().__init__()
        self.modality = modality
        self.lin = nn.Linear(in_dim, dim)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.lin(batch.inputs[self.modality].values)


def _setup(names: tuple[str, str] = ("image", "text"), queue_size: int = 6, momentum: float = 0.9):
    torch.manual_seed(0)
    towers = {names[0]: LinearTower(names[0], 4, 3), names[1]: LinearTower(names[1], 5, 3)}
    return CrossModalMoCo(towers, embed_dim=3, queue_size=queue_size, momentum=momentum)


def _batch(names: tuple[str, str], b: int = 4, seed: int = 1, present=None) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    present = present or {}
    inputs = {
        m: ModalityBatch(
            torch.randn(b, width, generator=gen),
            present.get(m, torch.ones(b, dtype=torch.bool)),
        )
        for m, width in zip(names, (4, 5), strict=True)
    }
    return Batch([f"s{i}" for i in range(b)], inputs)


def test_momentum_update_is_the_ema_by_hand() -> None:
    online, copy_ = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.detach().clone() for p in copy_.parameters()]
    momentum_update(online, copy_, 0.75)
    for p_k, old, p_q in zip(copy_.parameters(), before, online.parameters(), strict=True):
        torch.testing.assert_close(p_k, 0.75 * old + 0.25 * p_q.detach())


def test_training_step_updates_the_momentum_towers_before_the_keys() -> None:
    names = ("image", "text")
    moco = _setup(names, momentum=0.9)
    with torch.no_grad():  # move the online towers away from their copies
        for p in moco.towers.parameters():
            p.add_(1.0)
    old = {n: p.detach().clone() for n, p in moco.momentum_towers.named_parameters()}
    online = dict(moco.towers.named_parameters())
    batch = _batch(names)
    out = moco(batch)
    for n, p in moco.momentum_towers.named_parameters():
        torch.testing.assert_close(p, 0.9 * old[n] + 0.1 * online[n].detach())
    key = moco.momentum_towers["text"](batch)
    torch.testing.assert_close(out.keys["text"], F.normalize(key, dim=-1))


def test_queue_is_fifo_with_wrap_around() -> None:
    queue = FeatureQueue(5, 1)
    assert queue.ordered().shape == (0, 1)
    queue.enqueue(torch.tensor([[0.0], [1.0], [2.0]]))
    assert queue.ordered().squeeze(1).tolist() == [0, 1, 2]
    queue.enqueue(torch.tensor([[3.0], [4.0], [5.0]]))  # wraps: 5 overwrites 0
    assert queue.ordered().squeeze(1).tolist() == [1, 2, 3, 4, 5]
    assert queue.keys.squeeze(1).tolist() == [5, 1, 2, 3, 4]
    assert int(queue.ptr) == 1
    assert int(queue.filled) == 5
    queue.enqueue(torch.arange(6.0, 13.0).unsqueeze(1))  # more than the size: the last 5 stay
    assert queue.ordered().squeeze(1).tolist() == [8, 9, 10, 11, 12]
    assert sorted(queue.negatives().squeeze(1).tolist()) == [8, 9, 10, 11, 12]


def test_queue_state_is_in_the_state_dict() -> None:
    names = ("image", "text")
    moco = _setup(names)
    moco(_batch(names))
    state = moco.state_dict()
    assert {"queues.image.keys", "queues.text.ptr", "queues.text.filled"} <= set(state)
    assert any(k.startswith("momentum_towers.text.") for k in state)
    fresh = _setup(names)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.queues["text"].ordered(), moco.queues["text"].ordered())


def test_loss_equals_a_hand_computation() -> None:
    names = ("image", "text")
    moco = _setup(names, queue_size=3, momentum=0.5)
    moco.queues["image"].enqueue(F.normalize(torch.randn(2, 3), dim=-1))
    moco.queues["text"].enqueue(F.normalize(torch.randn(3, 3), dim=-1))
    q_img = moco.queues["image"].negatives().numpy().copy()
    q_txt = moco.queues["text"].negatives().numpy().copy()
    moco.eval()  # no update: keys come from the (still identical) momentum copies
    batch = _batch(names)
    out = moco(batch)

    def embed(m: str) -> np.ndarray:
        lin = moco.towers[m].lin
        x = (
            batch.inputs[m].values.numpy() @ lin.weight.detach().numpy().T
            + lin.bias.detach().numpy()
        )
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def nll(q: np.ndarray, k: np.ndarray, queue: np.ndarray) -> float:
        logits = np.concatenate([(q * k).sum(1, keepdims=True), q @ queue.T], axis=1) / 0.07
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return float(-logp[:, 0].mean())

    img, txt = embed("image"), embed("text")
    expected = (nll(img, txt, q_txt) + nll(txt, img, q_img)) / 2
    np.testing.assert_allclose(out.loss.item(), expected, rtol=1e-5)
    assert int(moco.queues["text"].filled) == 3  # eval mode: queues unchanged


def test_moco_loss_is_cross_entropy_with_the_positive_first() -> None:
    q = F.normalize(torch.randn(4, 3), dim=-1)
    k = F.normalize(torch.randn(4, 3), dim=-1)
    queue = F.normalize(torch.randn(5, 3), dim=-1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / 0.2
    torch.testing.assert_close(
        moco_loss(q, k, queue, 0.2), F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    )


def test_key_encoders_never_get_gradients() -> None:
    names = ("image", "text")
    moco = _setup(names)
    batch = _batch(names)
    moco(batch)
    moco(batch).loss.backward()  # second step: the queues hold negatives
    assert all(not p.requires_grad and p.grad is None for p in moco.momentum_towers.parameters())
    assert all(p.grad is not None for p in moco.towers.parameters())
    assert all(not out.requires_grad for out in moco(batch).keys.values())


@pytest.mark.parametrize("names", [("image", "text"), ("text_en", "text_zh"), ("b", "a")])
def test_any_pair_of_modality_names(names: tuple[str, str]) -> None:
    moco = _setup(names)
    present = {names[1]: torch.tensor([True, False, True, True])}
    batch = _batch(names, present=present)
    moco(batch)
    assert int(moco.queues[names[0]].filled) == 4
    assert int(moco.queues[names[1]].filled) == 3  # the absent sample's key is not enqueued
    loss = moco(batch).loss
    assert torch.isfinite(loss)
    assert loss > 0


def test_absent_pairs_are_not_queries() -> None:
    names = ("image", "text")
    moco = _setup(names)
    moco.eval()
    moco.queues["text"].enqueue(F.normalize(torch.randn(2, 3), dim=-1))
    moco.queues["image"].enqueue(F.normalize(torch.randn(2, 3), dim=-1))
    present = torch.tensor([True, True, False, True])
    full = _batch(names, present={"image": present})
    out = moco(full)
    q, k = out.queries, out.keys
    expected = (
        moco_loss(q["image"][present], k["text"][present], moco.queues["text"].negatives(), 0.07)
        + moco_loss(q["text"][present], k["image"][present], moco.queues["image"].negatives(), 0.07)
    ) / 2
    torch.testing.assert_close(out.loss, expected)


def test_bad_configuration_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        CrossModalMoCo({"a": nn.Linear(1, 1)}, embed_dim=1, queue_size=0, momentum=1.5)
    assert len(caught.value.problems) == 3
