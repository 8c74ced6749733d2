"""`pair_tables`: the one rule that lines up two predictions tables for a paired comparison."""

from __future__ import annotations

import pandas as pd
import pytest

from polymodal.evaluate.pairing import PairingError, clean_rows, pair_tables


def robustness_table(seed: int) -> pd.DataFrame:
    """Five samples, each clean and under noise at severities 1 and 2, rows shuffled; the
    prediction encodes (id, perturbation, severity) and the seed, so a misaligned row shows."""
    rows = [
        {
            "id": f"s{i}",
            "perturbation": kind,
            "severity": severity,
            "target": i % 2,
            "prediction": f"{seed}:s{i}:{kind}:{severity}",
        }
        for i in range(5)
        for kind, severity in (("none", 0), ("noise", 1), ("noise", 2))
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_rows_are_lined_up_by_id_perturbation_and_severity_in_key_order():
    a, b = pair_tables(robustness_table(1), robustness_table(2))
    assert len(a) == len(b) == 15
    keys = list(zip(a["id"], a["perturbation"], a["severity"], strict=True))
    assert keys == sorted(keys)  # sorted by key, whatever the files' order
    assert list(b["id"]) == list(a["id"])
    for row_a, row_b in zip(a.itertuples(), b.itertuples(), strict=True):
        key = f"{row_a.id}:{row_a.perturbation}:{row_a.severity}"
        assert (row_a.prediction, row_b.prediction) == (f"1:{key}", f"2:{key}")
    assert list(a.index) == list(range(15))


def test_without_perturbation_columns_the_id_is_the_key():
    a = pd.DataFrame({"id": [3, 1, 2], "target": [30, 10, 20], "prediction": [0, 0, 0]})
    b = pd.DataFrame({"id": [2, 3, 1], "target": [20, 30, 10], "prediction": [1, 1, 1]})
    pa, pb = pair_tables(a, b)
    assert list(pa["id"]) == list(pb["id"]) == [1, 2, 3]
    assert list(pb["target"]) == [10, 20, 30]


def test_clean_rows_keeps_the_unperturbed_rows():
    clean = clean_rows(robustness_table(0))
    assert set(clean["perturbation"]) == {"none"}
    assert len(clean) == 5
    plain = pd.DataFrame({"id": ["x"], "target": [1]})
    assert clean_rows(plain).equals(plain)


def test_other_samples_repeated_samples_and_other_targets_are_refused():
    a = robustness_table(0)
    with pytest.raises(PairingError, match=r"same samples: 3 only in A \(.*'s4'.*\), 0 only in B"):
        pair_tables(a, a[a["id"] != "s4"])
    with pytest.raises(PairingError, match=r"table B holds 1 sample\(s\) more than once"):
        pair_tables(a, pd.concat([a, a.iloc[:1]]))
    other = a.assign(target=a["target"].where(a["id"] != "s2", 7))
    with pytest.raises(PairingError, match=r"3 sample\(s\) have another target in x than in y"):
        pair_tables(a, other, names=("x", "y"))
    with pytest.raises(PairingError, match="no 'id' column"):
        pair_tables(a.drop(columns="id"), a)


def test_list_targets_are_compared_element_by_element():
    a = pd.DataFrame({"id": ["p", "q"], "target": [[1, 0], [0, 1]]})
    same = pd.DataFrame({"id": ["q", "p"], "target": [[0, 1], [1, 0]]})
    assert pair_tables(a, same)[1]["target"].tolist() == [[1, 0], [0, 1]]
    with pytest.raises(PairingError, match="another target"):
        pair_tables(a, same.assign(target=[[0, 1], [1, 1]]))
