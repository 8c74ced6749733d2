"""Learning-rate schedule and optimiser choice, against hand computations."""

import math

import pytest
import torch

from polymodal.config import TrainConfig
from polymodal.train.module import build_optimizer, lr_factor


def test_cosine_with_warmup_by_hand():
    cfg = TrainConfig(max_epochs=10, scheduler="cosine", warmup_epochs=2)
    assert lr_factor(0.0, cfg) == pytest.approx(0.0005)
    assert lr_factor(1.0, cfg) == pytest.approx((1.0 + 1e-3) / 2)
    assert lr_factor(2.0, cfg) == pytest.approx(1.0)
    assert lr_factor(6.0, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(10.0, cfg) == pytest.approx(0.0)
    assert lr_factor(12.0, cfg) == pytest.approx(0.0)  # clamped past the end


def test_step_and_constant_schedules():
    step = TrainConfig(max_epochs=30, scheduler="step", step_size=10, gamma=0.5)
    assert [lr_factor(e, step) for e in (0, 9.9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    assert lr_factor(7.3, TrainConfig()) == 1.0


@pytest.mark.parametrize(
    ("name", "kind"),
    [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)],
)
def test_optimizer_choice_and_hyperparameters(name, kind):
    cfg = TrainConfig(optimizer=name, lr=0.05, weight_decay=0.1)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg)
    assert type(optimizer) is kind
    assert optimizer.param_groups[0]["lr"] == 0.05
    assert optimizer.param_groups[0]["weight_decay"] == 0.1


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_runs_fused_on_cpu_with_the_per_parameter_update(name):
    cfg = TrainConfig(optimizer=name, lr=0.01, weight_decay=0.1)
    torch.manual_seed(0)
    start = [torch.randn(3, 4), torch.randn(4)]
    fused_params = [torch.nn.Parameter(t.clone()) for t in start]
    loop_params = [torch.nn.Parameter(t.clone()) for t in start]
    optimizer = build_optimizer(fused_params, cfg)
    assert optimizer.param_groups[0]["fused"] is True
    kind = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    reference = kind(loop_params, lr=0.01, weight_decay=0.1, foreach=False, fused=False)
    for step in range(3):
        for params, opt in ((fused_params, optimizer), (loop_params, reference)):
            opt.zero_grad()
            ((params[0].sum(0) * params[1]) ** 2).sum().mul(step + 1).backward()
            opt.step()
    for fused, loop in zip(fused_params, loop_params, strict=True):
        torch.testing.assert_close(fused, loop)
