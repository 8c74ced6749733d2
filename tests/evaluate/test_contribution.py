"""Tests of modality contribution: Shapley values and leave-one-out
(polymodal.evaluate.contribution)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from polymodal.config import ModelConfig
from polymodal.data.bundle import ListDataset
from polymodal.data.collate import collate_samples
from polymodal.data.schema import DatasetInfo, ModalitySpec, Sample, TaskSpec
from polymodal.evaluate.contribution import (
    ContributionError,
    all_subsets,
    leave_one_out,
    modality_contribution,
    parse_subset,
    shapley_values,
    subset_label,
    subset_tables,
)
from polymodal.evaluate.predict import predict_table
from polymodal.models.builder import build_model

S = frozenset

# A hand-made 3-player game.
GAME = {
    S(): 0.0,
    S("a"): 10.0,
    S("b"): 20.0,
    S("c"): 30.0,
    S("ab"): 40.0,
    S("ac"): 50.0,
    S("bc"): 60.0,
    S("abc"): 90.0,
}


def _shapley_by_permutations(values, players):
    """Reference: the mean marginal contribution over all n! orders of arrival."""
    totals = dict.fromkeys(players, 0.0)
    orders = list(itertools.permutations(players))
    for order in orders:
        before: frozenset[str] = frozenset()
        for p in order:
            totals[p] += values[before | {p}] - values[before]
            before = before | {p}
    return {p: t / len(orders) for p, t in totals.items()}


def _random_game(players, seed):
    rng = np.random.default_rng(seed)
    return {s: float(rng.normal()) for s in all_subsets(players)}


def test_shapley_hand_computed_three_players() -> None:
    # phi_a = 1/3 (10 - 0) + 1/6 (40 - 20) + 1/6 (50 - 30) + 1/3 (90 - 60) = 20
    # phi_b = 1/3 (20 - 0) + 1/6 (40 - 10) + 1/6 (60 - 30) + 1/3 (90 - 50) = 30
    # phi_c = 1/3 (30 - 0) + 1/6 (50 - 10) + 1/6 (60 - 20) + 1/3 (90 - 40) = 40
    phi = shapley_values(GAME, ["a", "b", "c"])
    assert list(phi) == ["a", "b", "c"]
    assert phi == pytest.approx({"a": 20.0, "b": 30.0, "c": 40.0})


def test_leave_one_out_by_hand() -> None:
    loo = leave_one_out(GAME, ["a", "b", "c"])
    assert loo == {"a": 90.0 - 60.0, "b": 90.0 - 50.0, "c": 90.0 - 40.0}
    # it needs v(N) and v(N \ {i}) only
    partial = {k: GAME[k] for k in (S("abc"), S("bc"), S("ac"), S("ab"))}
    assert leave_one_out(partial, ["a", "b", "c"]) == loo
    with pytest.raises(ContributionError, match="keep:a\\+b"):
        leave_one_out({S("abc"): 1.0, S("bc"): 0.0, S("ac"): 0.0}, ["a", "b", "c"])


@pytest.mark.parametrize("n", [1, 2, 4, 5])
def test_shapley_matches_permutation_reference_and_is_efficient(n: int) -> None:
    players = [f"m{i}" for i in range(n)]
    game = _random_game(players, seed=n)
    phi = shapley_values(game, players)
    assert phi == pytest.approx(_shapley_by_permutations(game, players), abs=1e-12)
    full, empty = frozenset(players), frozenset()
    assert sum(phi.values()) == pytest.approx(game[full] - game[empty], abs=1e-12)


def test_shapley_symmetry_and_null_player() -> None:
    players = ["a", "b", "c", "d"]
    base = _random_game(["a", "b", "c"], seed=0)

    def v(s: frozenset[str]) -> float:
        core = s - {"d"}  # d is a null player
        # b and c are interchangeable: swap them in the lookup and average
        swapped = frozenset({"b": "c", "c": "b"}.get(m, m) for m in core)
        return (base[core] + base[swapped]) / 2

    game = {s: v(s) for s in all_subsets(players)}
    phi = shapley_values(game, players)
    assert phi["d"] == pytest.approx(0.0, abs=1e-12)
    assert phi["b"] == pytest.approx(phi["c"], abs=1e-12)
    assert sum(phi.values()) == pytest.approx(game[frozenset(players)] - game[frozenset()])


def test_shapley_needs_every_coalition() -> None:
    game = dict(GAME)
    del game[S("bc")]
    with pytest.raises(ContributionError, match="keep:b\\+c"):
        shapley_values(game, ["a", "b", "c"])


def test_labels_round_trip() -> None:
    order = ["image", "audio", "text"]
    assert subset_label(S({"text", "image"}), order) == "keep:image+text"
    assert subset_label(S(), order) == "keep:"
    assert parse_subset("keep:image+text") == S({"image", "text"})
    assert parse_subset("keep:") == S()
    assert parse_subset("drop:image") is None
    assert len(all_subsets(order)) == 2**3


def test_modality_contribution_from_a_hand_made_table() -> None:
    accuracy = {"keep:": 0.25, "keep:a": 0.75, "keep:b": 0.5, "keep:a+b": 1.0}
    rows = [
        {"id": f"s{i}", "target": 0, "prediction": int(i >= acc * 4), "perturbation": label}
        for label, acc in accuracy.items()
        for i in range(4)
    ]
    rows += [{"id": "s0", "target": 0, "prediction": 1, "perturbation": "none"}]  # ignored
    table = pd.DataFrame(rows).assign(severity=0)
    out = modality_contribution(table, "multiclass", "accuracy")
    # phi_a = 1/2 (.75 - .25) + 1/2 (1 - .5) = .5 ; phi_b = 1/2 (.5 - .25) + 1/2 (1 - .75) = .25
    expected = pd.DataFrame(
        {"modality": ["a", "b"], "shapley": [0.5, 0.25], "leave_one_out": [0.5, 0.25]}
    )
    pd.testing.assert_frame_equal(out, expected)


# --------------------------------------------------------------------------------------------
# With a model

SPECS = {
    "image": ModalitySpec("image", "image", (1, 4, 4)),
    "tab": ModalitySpec("tab", "tabular", (3,)),
}
TASK = TaskSpec("multiclass", 3)
INFO = DatasetInfo("toy", SPECS, TASK)


def _model_ignoring_tab():
    """Image + tabular concat model whose head reads only the image half ``[image (4) | tab]``."""
    torch.manual_seed(0)
    cfg = ModelConfig.model_validate(
        {
            "encoders": {
                "image": {"name": "cnn", "out_dim": 4, "channels": 2, "num_blocks": 1},
                "tab": {"name": "mlp", "out_dim": 4, "hidden_dim": 4, "num_layers": 1},
            },
            "fusion": "concat",
            "head": {"name": "classification", "hidden_dim": 8},
        }
    )
    model = build_model(cfg, INFO)
    with torch.no_grad():
        model.encoders["image"].proj.weight.mul_(5.0)  # spread the image features: varied classes
        model.head.net[0].weight[:, 4:] = 0.0
    return model


def test_subset_tables_give_all_value_to_the_modality_the_model_reads() -> None:
    model = _model_ignoring_tab()
    gen = torch.Generator().manual_seed(1)
    samples = [
        Sample(
            f"s{i}",
            {"image": torch.randn(1, 4, 4, generator=gen), "tab": torch.randn(3, generator=gen)},
            torch.tensor(0),
        )
        for i in range(20)
    ]
    # The same batches as subset_tables (8): a float kernel may round differently per batch size.
    batches = [collate_samples(samples[i : i + 8], SPECS) for i in range(0, len(samples), 8)]
    clean = predict_table(model, batches, TASK)
    for sample, label in zip(samples, clean["prediction"], strict=True):
        sample.target = torch.tensor(int(label))  # clean accuracy 1
    table = subset_tables(model, ListDataset(samples), SPECS, TASK, batch_size=8)

    labels = table["perturbation"].unique().tolist()
    assert labels == ["keep:", "keep:image", "keep:tab", "keep:image+tab"]
    assert (table["severity"] == 0).all()
    for label in labels:
        rows = table[table["perturbation"] == label]
        assert rows["present_image"].tolist() == ["image" in label] * 20
        assert rows["present_tab"].tolist() == ["tab" in label] * 20
    full = table[table["perturbation"] == "keep:image+tab"].reset_index(drop=True)
    assert full["scores"].tolist() == clean["scores"].tolist()

    out = modality_contribution(table, "multiclass", "accuracy").set_index("modality")
    empty = table[table["perturbation"] == "keep:"]
    v_empty = float((empty["prediction"] == empty["target"]).mean())  # accuracy with no input
    assert v_empty < 1.0  # without the image the model is worse
    assert out.loc["tab", "shapley"] == 0.0  # exactly: tab never changes a prediction
    assert out.loc["tab", "leave_one_out"] == 0.0
    assert out.loc["image", "shapley"] == pytest.approx(1.0 - v_empty)
    assert out.loc["image", "leave_one_out"] == pytest.approx(1.0 - v_empty)


class _SevenModalities(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({f"m{i}": nn.Identity() for i in range(7)})


def test_subset_tables_limits_the_number_of_modalities() -> None:
    specs = {f"m{i}": ModalitySpec(f"m{i}", "tabular", (1,)) for i in range(7)}
    with pytest.raises(ContributionError, match="at most 6"):
        subset_tables(_SevenModalities(), ListDataset([]), specs, TASK)
