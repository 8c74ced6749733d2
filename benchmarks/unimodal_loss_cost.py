"""Cost of the unimodal auxiliary losses: one training step of each fusion preset with
``unimodal_loss_weight`` 0 against 1, measured in one run (``--against before``: the presets
and optimizer as they were before issue 13 against today's).

Each step is forward + loss + backward + Adam on a batch of 64 degraded digits-av samples (the
issue-13 recipe: 64 log-mel bins, 1 s at 8 kHz). The two variants alternate step by step over the
same batches, so a busy machine slows both alike; the median step time of each and their ratio
are printed. Uses the packaged FSDD sample (``POLYMODAL_FSDD_DIR`` for the full set).

``--against w0`` (default): both variants use the same optimizer (``build_optimizer``, as
training does); only ``unimodal_loss_weight`` differs. ``--against before``: the first variant
is the preset before issue 13 (``unimodal_loss_weight: 0``, TFN's ``proj_dim: 8``, the dropouts
early, mmbt and gated had before E9) with Adam's per-parameter loop (torch's CPU default, what
``build_optimizer`` gave before it used the fused kernel); the second is today's preset with
today's ``build_optimizer``.

Run::

    PYTHONPATH=src .venv/bin/python benchmarks/unimodal_loss_cost.py [--steps 40] \\
        [--presets early tfn lmf] [--against before]
"""

from __future__ import annotations

import argparse
import statistics
import time
from itertools import cycle, islice
from typing import Any

import torch

from polymodal.config import TrainConfig, parse_config
from polymodal.data.loading import build_data, make_dataloader
from polymodal.models.builder import build_model
from polymodal.train.module import build_optimizer

RECIPE = {
    "name": "digits-av",
    "image_noise": 0.5,
    "image_occlusion": 0,
    "audio_snr_db": 0.0,
    "n_mels": 64,
}


BEFORE = {
    "tfn": {"fusion": {"proj_dim": 8}},
    "early": {"head": {"hidden_dim": 128, "dropout": 0.1}},
    "mmbt": {"head": {"dropout": 0.1}},
    "gated": {"fusion": {"dropout": 0.0}},
}
"""Preset values that changed for issue 13 besides ``unimodal_loss_weight`` (their old values)."""


def _model(preset: str, weight: float, info: Any, changes: dict[str, Any]) -> torch.nn.Module:
    section = {"preset": preset, "unimodal_loss_weight": weight, **changes}
    config = parse_config({"data": RECIPE, "model": section})
    torch.manual_seed(0)
    return build_model(config.model, info)


def _step_ms(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Any) -> float:
    start = time.perf_counter()
    loss = model.loss(model(batch), batch.target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return (time.perf_counter() - start) * 1000.0


def measure(preset: str, steps: int, info: Any, train: Any, against: str) -> tuple[float, float]:
    """Median milliseconds per step of the baseline (``w0`` or ``before``) and of today's preset
    with the unimodal losses."""
    cfg = TrainConfig(optimizer="adam", lr=1e-3)
    if against == "before":
        base = _model(preset, 0.0, info, BEFORE.get(preset, {}))
        base_optimizer = torch.optim.Adam(base.parameters(), lr=1e-3, foreach=False, fused=False)
    else:
        base = _model(preset, 0.0, info, {})
        base_optimizer = build_optimizer(base.parameters(), cfg)
    aux = _model(preset, 1.0, info, {})
    models = [base, aux]
    optimizers = [base_optimizer, build_optimizer(aux.parameters(), cfg)]
    for m in models:
        m.train()
    times: list[list[float]] = [[], []]
    for batch in islice(cycle(train), steps + 5):
        for i in (0, 1):  # alternate: both variants see the same load
            times[i].append(_step_ms(models[i], optimizers[i], batch))
    return statistics.median(times[0][5:]), statistics.median(times[1][5:])  # 5 warm-up steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--presets", nargs="+", default=["early", "tfn", "lmf"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--against", choices=["w0", "before"], default="w0")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = build_data(parse_config({"data": RECIPE, "model": "early"}).data, seed=0)
    specs = dict(bundle.info.modalities)
    train = list(make_dataloader(bundle.splits["train"], specs, batch_size=64, shuffle=False))
    base_name = "w = 0" if args.against == "w0" else "before issue 13"
    print(f"| preset | {base_name} (ms/step) | today, w = 1 (ms/step) | ratio |")
    print("|---|---|---|---|")
    for preset in args.presets:
        base, aux = measure(preset, args.steps, bundle.info, train, args.against)
        print(f"| {preset} | {base:.1f} | {aux:.1f} | {aux / base:.3f} |", flush=True)


if __name__ == "__main__":
    main()
