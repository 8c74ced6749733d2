"""Tests of the robustness protocol, curves and summaries (polymodal.evaluate.robustness)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from polymodal.config import ModelConfig
from polymodal.data.bundle import ListDataset
from polymodal.data.collate import collate_samples
from polymodal.data.schema import DatasetInfo, ModalitySpec, Sample, TaskSpec
from polymodal.errors import UnknownComponentError
from polymodal.evaluate.perturb import PerturbationError
from polymodal.evaluate.predict import predict_table
from polymodal.evaluate.robustness import (
    RobustnessError,
    effective_robustness,
    relative_robustness,
    robustness_curves,
    robustness_summary,
    robustness_table,
)
from polymodal.models.builder import build_model

SPECS = {
    "image": ModalitySpec("image", "image", (1, 4, 4)),
    "tab": ModalitySpec("tab", "tabular", (3,)),
}
TASK = TaskSpec("multiclass", 3)
INFO = DatasetInfo("toy", SPECS, TASK)
IMAGE_DIM = 4


def _model_ignoring_tab():
    """A tiny image + tabular concat model whose head reads only the image half of the fused
    vector ``[image (4) | tab (4)]``: its predictions do not depend on ``tab`` at all."""
    torch.manual_seed(0)
    cfg = ModelConfig.model_validate(
        {
            "encoders": {
                "image": {"name": "cnn", "out_dim": IMAGE_DIM, "channels": 2, "num_blocks": 1},
                "tab": {"name": "mlp", "out_dim": 4, "hidden_dim": 4, "num_layers": 1},
            },
            "fusion": "concat",
            "head": {"name": "classification", "hidden_dim": 8},
        }
    )
    model = build_model(cfg, INFO)
    with torch.no_grad():
        model.encoders["image"].proj.weight.mul_(5.0)  # spread the image features: varied classes
        model.head.net[0].weight[:, IMAGE_DIM:] = 0.0
    return model


def _dataset(model, n: int = 24) -> ListDataset:
    """Random samples whose targets are the model's clean predictions (clean accuracy 1)."""
    gen = torch.Generator().manual_seed(1)
    samples = [
        Sample(
            f"s{i}",
            {"image": torch.randn(1, 4, 4, generator=gen), "tab": torch.randn(3, generator=gen)},
            torch.tensor(0),
        )
        for i in range(n)
    ]
    clean = predict_table(model, [collate_samples(samples, SPECS)], TASK)
    for sample, label in zip(samples, clean["prediction"], strict=True):
        sample.target = torch.tensor(int(label))
    return ListDataset(samples)


def test_robustness_table_of_a_model_that_ignores_a_modality() -> None:
    model = _model_ignoring_tab()
    data = _dataset(model)
    kw = {"severities": (0, 2, 5), "batch_size": 10, "seed": 3}
    table = robustness_table(model, data, SPECS, TASK, **kw)
    conditions = table.groupby(["perturbation", "severity"]).size()
    expected = [("none", 0)] + [
        (f"{k}:{m}", s) for k in ("drop", "mask", "noise") for m in ("image", "tab") for s in (2, 5)
    ]
    assert sorted(conditions.index) == sorted(expected)  # clean once, severity 0 not recomputed
    assert bool((conditions == len(data)).all())
    clean = table[table["perturbation"] == "none"].reset_index(drop=True)
    assert bool((clean["prediction"] == clean["target"]).all())
    assert clean["prediction"].nunique() > 1  # the image decides between classes
    for kind in ("drop", "mask", "noise"):
        rows = table[table["perturbation"] == f"{kind}:tab"]
        for _, block in rows.groupby("severity"):
            assert block["scores"].tolist() == clean["scores"].tolist()  # tab changes nothing
    dropped = table[(table["perturbation"] == "drop:image") & (table["severity"] == 5)]
    assert not bool(dropped["present_image"].any())
    assert len({tuple(s) for s in dropped["scores"]}) == 1  # no input left: one output
    half = table[(table["perturbation"] == "drop:image") & (table["severity"] == 2)]
    assert int((~half["present_image"]).sum()) == 4 + 4 + 2  # round(0.4 x 10, 10, 4)

    summary = robustness_summary(table, "multiclass", "accuracy")
    tab = summary[summary["modality"] == "tab"]
    assert tab["relative_robustness"].tolist() == [1.0, 1.0, 1.0]  # exactly
    assert (summary["clean"] == 1.0).all()
    image = summary[summary["modality"] == "image"]
    assert (image["relative_robustness"] < 0.9).all()  # the modality it reads does matter
    # against itself, effective robustness is zero
    self_ref = robustness_summary(table, "multiclass", "accuracy", reference_table=table)
    assert self_ref["effective_robustness"].abs().max() == pytest.approx(0.0, abs=1e-12)
    assert self_ref["reference_relative_robustness"].equals(self_ref["relative_robustness"])

    again = robustness_table(model, data, SPECS, TASK, **kw)
    pd.testing.assert_frame_equal(table, again)  # same seed, bit-identical


def test_robustness_table_rejects_bad_arguments() -> None:
    model = _model_ignoring_tab()
    data = ListDataset([])
    with pytest.raises(UnknownComponentError, match="blur"):
        robustness_table(model, data, SPECS, TASK, kinds=("blur",))
    with pytest.raises(PerturbationError, match="severity"):
        robustness_table(model, data, SPECS, TASK, severities=(0, 7))
    with pytest.raises(RobustnessError, match="lidar"):
        robustness_table(model, data, SPECS, TASK, modalities=["lidar"])


# --------------------------------------------------------------------------------------------
# Hand-made tables


def _classification_rows(label: str, severity: int, correct: list[bool]) -> list[dict]:
    return [
        {
            "id": f"s{i}",
            "target": 0,
            "prediction": 0 if ok else 1,
            "perturbation": label,
            "severity": severity,
        }
        for i, ok in enumerate(correct)
    ]


def _classification_table(conditions: dict[tuple[str, int], list[bool]]) -> pd.DataFrame:
    rows = [r for (label, s), ok in conditions.items() for r in _classification_rows(label, s, ok)]
    return pd.DataFrame(rows)


T, F = True, False
MODEL = _classification_table(
    {
        ("none", 0): [T, T, T, T],  # 1.0
        ("drop:a", 1): [T, T, T, F],  # 0.75
        ("drop:a", 2): [T, T, F, F],  # 0.5
        ("noise:a", 2): [T, T, T, T],  # 1.0 (flat)
        ("keep:a", 0): [F, F, F, F],  # not a curve
    }
)
REFERENCE = _classification_table(
    {
        ("none", 0): [T, T, F, F],  # 0.5
        ("drop:a", 1): [T, F, T, F],  # 0.5
        ("drop:a", 2): [F, T, F, F],  # 0.25
        ("noise:a", 2): [F, F, F, T],  # 0.25
    }
)


def test_curves_from_a_hand_made_table() -> None:
    curves = robustness_curves(MODEL, "multiclass", "accuracy")
    expected = pd.DataFrame(
        {
            "modality": ["a"] * 5,
            "kind": ["drop", "drop", "drop", "noise", "noise"],
            "severity": [0, 1, 2, 0, 2],
            "value": [1.0, 0.75, 0.5, 1.0, 1.0],
        }
    )
    pd.testing.assert_frame_equal(curves, expected, check_dtype=False)


def test_summary_by_hand_higher_is_better() -> None:
    summary = robustness_summary(MODEL, "multiclass", "accuracy", reference_table=REFERENCE)
    drop = summary[summary["kind"] == "drop"].iloc[0]
    noise = summary[summary["kind"] == "noise"].iloc[0]
    # drop: trapezoid (1 + .75) / 2 + (.75 + .5) / 2 = 1.5, over clean 1 x span 2
    assert drop["relative_robustness"] == pytest.approx(0.75)
    assert drop["worst"] == 0.5
    assert noise["relative_robustness"] == 1.0
    # reference keeps 1, 1, .5 of its clean .5 -> predicted 1, 1, .5; gaps 0, -.25, 0
    assert drop["reference_clean"] == 0.5
    assert drop["reference_relative_robustness"] == pytest.approx(0.875)
    assert drop["effective_robustness"] == pytest.approx(-0.125)
    # noise: reference keeps 1, .5 over [0, 2]; gaps 0, +.5 -> trapezoid .5 / span 2
    assert noise["effective_robustness"] == pytest.approx(0.25)
    # ER = clean x (RR - RR_ref) for a higher-is-better metric
    for row in (drop, noise):
        identity = row["clean"] * (
            row["relative_robustness"] - row["reference_relative_robustness"]
        )
        assert row["effective_robustness"] == pytest.approx(identity)


def _regression_table(errors: dict[tuple[str, int], float]) -> pd.DataFrame:
    rows = [
        {
            "id": f"s{i}",
            "target": [0.0],
            "prediction": [err * (1 if i % 2 else -1)],
            "perturbation": label,
            "severity": s,
        }
        for (label, s), err in errors.items()
        for i in range(4)
    ]
    return pd.DataFrame(rows)


def test_summary_by_hand_lower_is_better() -> None:
    model = _regression_table({("none", 0): 1.0, ("mask:b", 1): 2.0, ("mask:b", 2): 3.0})
    ref = _regression_table({("none", 0): 2.0, ("mask:b", 1): 2.0, ("mask:b", 2): 4.0})
    row = robustness_summary(model, "regression", "mae", reference_table=ref).iloc[0]
    assert row["clean"] == pytest.approx(1.0)
    # normalised area of MAE: ((1 + 2) / 2 + (2 + 3) / 2) / (1 x 2) = 2 -> inverted: 0.5
    assert row["relative_robustness"] == pytest.approx(0.5)
    assert row["reference_relative_robustness"] == pytest.approx(1 / 1.25)
    # predicted MAE 1 x (1, 1, 2); predicted - actual = (0, -1, -1) -> trapezoid -1.5 / 2
    assert row["effective_robustness"] == pytest.approx(-0.75)


def test_summary_functions_directly() -> None:
    assert relative_robustness([0, 1, 3], [0.7] * 3, higher_is_better=True) == 1.0
    assert relative_robustness([0, 1, 3], [0.7] * 3, higher_is_better=False) == 1.0
    # non-uniform severities: trapezoid (1 + .5) / 2 x 1 + (.5 + .5) / 2 x 2 = 1.75, span 3
    assert relative_robustness([0, 1, 3], [0.8, 0.4, 0.4], higher_is_better=True) == (
        pytest.approx(1.75 / 3)
    )
    assert effective_robustness([0, 5], [0.6, 0.3], [0.8, 0.4], higher_is_better=True) == 0.0
    with pytest.raises(RobustnessError, match="two severities"):
        relative_robustness([0], [1.0], higher_is_better=True)


def test_summary_errors() -> None:
    with pytest.raises(RobustnessError, match="clean rows"):
        robustness_curves(MODEL[MODEL["perturbation"] != "none"], "multiclass", "accuracy")
    partial = REFERENCE[REFERENCE["severity"] != 1]
    with pytest.raises(RobustnessError, match=r"drop:a rows at severities \[1\]"):
        robustness_summary(MODEL, "multiclass", "accuracy", reference_table=partial)
    with pytest.raises(RobustnessError, match="single number"):
        robustness_curves(MODEL, "multiclass", "f1_per_class")
