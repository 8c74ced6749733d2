"""The synthetic trimodal benchmark: determinism, shapes, and its information structure.

The information structure is checked with scikit-learn reference models on simple features
extracted by hand from the data itself (not from the generator's hidden attributes):
image: the brightest pair of rows minus the brightest pair of columns (bar orientation);
text: bag of words; audio: per-mel-bin maximum over time (``audio_bins``) and, from it, the mean
over the bins whose centres lie in the high tone band minus that over the low band (``audio``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from polymodal.data.builtin.synthetic import (
    HIGH_BAND_HZ,
    KEYWORDS,
    LOW_BAND_HZ,
    SAMPLE_RATE,
    synthetic,
)
from polymodal.data.collate import collate_samples
from polymodal.data.transforms.audio import hz_to_mel, mel_to_hz
from polymodal.errors import ConfigError
from polymodal.registry import DATASETS


def everything(bundle):
    """Every split's samples as plain lists, for exact comparisons."""
    out = {}
    for name, split in bundle.splits.items():
        samples = [split[i] for i in range(len(split))]
        out[name] = samples
    return out


def band_bins(n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """Mel bins whose centre frequency lies in the low and in the high tone band."""
    edges = torch.linspace(0.0, hz_to_mel(SAMPLE_RATE / 2), n_mels + 2, dtype=torch.float64)
    centres = mel_to_hz(edges)[1:-1].numpy()
    low = (centres >= LOW_BAND_HZ[0]) & (centres <= LOW_BAND_HZ[1])
    high = (centres >= HIGH_BAND_HZ[0]) & (centres <= HIGH_BAND_HZ[1])
    return low, high


def features(split, vocab_size: int = 32, n_mels: int = 32) -> dict[str, np.ndarray]:
    samples = [split[i] for i in range(len(split))]
    img = np.stack([s.inputs["image"].numpy()[0] for s in samples])  # [N, S, S]
    rows, cols = img.sum(axis=2), img.sum(axis=1)  # [N, S]
    pair_rows, pair_cols = rows[:, :-1] + rows[:, 1:], cols[:, :-1] + cols[:, 1:]
    bins = np.stack([s.inputs["audio"].numpy().max(axis=0) for s in samples])  # [N, M]
    low, high = band_bins(n_mels)
    return {
        "image": (pair_rows.max(axis=1) - pair_cols.max(axis=1))[:, None],
        "text": np.stack(
            [np.bincount(s.inputs["text"].numpy(), minlength=vocab_size) for s in samples]
        ),
        "audio": (bins[:, high].mean(axis=1) - bins[:, low].mean(axis=1))[:, None],
        "audio_bins": bins,
        "y": np.array([int(s.target) for s in samples]),
    }


def accuracy(train, test, keys: tuple[str, ...]) -> float:
    """Test accuracy of a random forest on the concatenated features ``keys``."""
    x_train = np.concatenate([train[k] for k in keys], axis=1)
    x_test = np.concatenate([test[k] for k in keys], axis=1)
    model = RandomForestClassifier(n_estimators=60, min_samples_leaf=5, random_state=0)
    return float(model.fit(x_train, train["y"]).score(x_test, test["y"]))


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, float]]:
    out = {}
    for task in ("redundant", "unique", "synergy"):
        bundle = synthetic(seed=0, task=task, n=2500)
        train, test = features(bundle.splits["train"]), features(bundle.splits["test"])
        out[task] = {
            "image": accuracy(train, test, ("image",)),
            "text": accuracy(train, test, ("text",)),
            "audio": accuracy(train, test, ("audio",)),
            "audio_bins": accuracy(train, test, ("audio_bins",)),
            "image+audio": accuracy(train, test, ("image", "audio")),
        }
        print(task, {k: round(v, 3) for k, v in out[task].items()})
    return out


def test_synergy_needs_image_and_audio_together(scores):
    s = scores["synergy"]
    assert max(s["image"], s["text"], s["audio"], s["audio_bins"]) < 0.6
    assert s["image+audio"] > 0.9


def test_redundant_image_and_text_each_suffice(scores):
    s = scores["redundant"]
    assert s["image"] > 0.9
    assert s["text"] > 0.9
    assert max(s["audio"], s["audio_bins"]) < 0.6


def test_unique_only_audio_carries_the_label(scores):
    s = scores["unique"]
    assert s["audio"] > 0.9
    assert s["audio_bins"] > 0.9
    assert s["image"] < 0.6
    assert s["text"] < 0.6


def test_linear_model_on_one_modality_is_at_chance_for_synergy():
    bundle = synthetic(seed=3, task="synergy", n=1500)
    train, test = features(bundle.splits["train"]), features(bundle.splits["test"])
    for key in ("image", "text", "audio", "audio_bins"):
        model = LogisticRegression(max_iter=1000).fit(train[key], train["y"])
        assert model.score(test[key], test["y"]) < 0.6


@pytest.mark.parametrize(("text_noise", "expected"), [(0.0, 1.0), (0.2, 0.8)])
def test_text_keyword_rule_and_text_noise(text_noise, expected):
    bundle = synthetic(seed=1, task="redundant", n=1500, text_noise=text_noise)
    samples = everything(bundle)["train"]
    ones = set(KEYWORDS[1])
    predicted = np.array([any(int(t) in ones for t in s.inputs["text"]) for s in samples])
    target = np.array([int(s.target) for s in samples])
    assert np.mean(predicted == target) == pytest.approx(expected, abs=0.035)


def test_noise_knob_sets_the_image_noise_std():
    quiet = synthetic(seed=2, n=400, noise=0.0, normalize_audio=False)
    loud = synthetic(seed=2, n=400, noise=0.8, normalize_audio=False)
    # same seed, same draws: the bars and squares are identical, only the noise term differs
    clean = torch.stack([s.inputs["image"] for s in everything(quiet)["train"]])
    noisy = torch.stack([s.inputs["image"] for s in everything(loud)["train"]])
    assert set(torch.unique(clean).gt(0).tolist()) == {False, True}
    assert float(clean.min()) == 0.0
    assert float((noisy - clean).std()) == pytest.approx(0.8, rel=0.03)


def test_same_seed_same_tensors_and_other_seed_differs():
    a, b = everything(synthetic(seed=7, n=300)), everything(synthetic(seed=7, n=300))
    c = everything(synthetic(seed=8, n=300))
    for split in a:
        for x, y in zip(a[split], b[split], strict=True):
            assert x.id == y.id
            assert torch.equal(x.target, y.target)
            for key in ("image", "text", "audio"):
                assert torch.equal(x.inputs[key], y.inputs[key])
    assert not torch.equal(a["train"][0].inputs["image"], c["train"][0].inputs["image"])
    assert [s.target.item() for s in a["train"]] != [s.target.item() for s in c["train"]]


def test_shapes_specs_and_splits():
    bundle = synthetic(
        seed=0, task="unique", n=200, image_size=12, n_mels=20, vocab_size=40, max_text_len=9
    )
    info = bundle.info
    assert set(info.modalities) == {"image", "text", "audio"}
    assert info.modalities["image"].shape == (1, 12, 12)
    assert info.modalities["text"].shape == (-1,)
    assert info.modalities["text"].vocab_size == 40
    assert info.modalities["text"].pad_id == 0
    assert info.modalities["audio"].shape == (-1, 20)
    assert info.task.type == "multiclass"
    assert info.task.num_outputs == 2
    assert {k: len(v) for k, v in bundle.splits.items()} == {"train": 140, "val": 20, "test": 40}
    ids = [s.id for split in everything(bundle).values() for s in split]
    assert len(set(ids)) == 200
    for s in everything(bundle)["train"]:
        assert s.inputs["image"].shape == (1, 12, 12)
        assert s.inputs["image"].dtype == torch.float32
        text = s.inputs["text"]
        assert text.dtype == torch.int64
        assert 4 <= len(text) <= 9
        assert int(text.min()) >= 1
        assert int(text.max()) < 40
        assert 16 <= s.inputs["audio"].shape[0] <= 32
        assert s.inputs["audio"].shape[1] == 20
        assert s.target.dtype == torch.int64
    batch = collate_samples(everything(bundle)["val"][:8], info.modalities)
    lengths = [len(s.inputs["text"]) for s in everything(bundle)["val"][:8]]
    assert (~batch.inputs["text"].padding_mask).sum(dim=1).tolist() == lengths


def test_audio_is_standardised_with_train_statistics_and_state_is_reused():
    bundle = synthetic(seed=0, n=600)
    frames = torch.cat([s.inputs["audio"] for s in everything(bundle)["train"]])  # [sum T, M]
    torch.testing.assert_close(frames.mean(0), torch.zeros(32), atol=1e-4, rtol=0)
    torch.testing.assert_close(frames.std(0, correction=0), torch.ones(32), atol=1e-4, rtol=0)
    raw = synthetic(seed=1, n=600, normalize_audio=False)
    reused = synthetic(seed=1, n=600, state=bundle.state)
    mean, std = torch.tensor(bundle.state["audio_mean"]), torch.tensor(bundle.state["audio_std"])
    x, y = raw.splits["test"][5].inputs["audio"], reused.splits["test"][5].inputs["audio"]
    torch.testing.assert_close(y, (x - mean) / std)
    assert reused.state == bundle.state


def test_bad_parameters_are_all_reported():
    with pytest.raises(ConfigError) as info:
        synthetic(seed=0, n=5, noise=-1.0, vocab_size=3)
    message = str(info.value)
    for key in ("data.n", "data.noise", "data.vocab_size"):
        assert key in message
    with pytest.raises(ConfigError, match="no training sample"):
        synthetic(seed=0, n=20, val_fraction=0.5, test_fraction=0.5 - 1e-9)


def test_registered_with_validated_parameters():
    assert "synthetic" in DATASETS.names()
    params = DATASETS.params_model("synthetic")
    assert params(task="redundant", n=100).task == "redundant"
    with pytest.raises(ValueError, match="task"):
        params(task="bogus")


def test_ten_thousand_samples_generation_time():
    start = time.perf_counter()
    bundle = synthetic(seed=0, n=10_000)
    elapsed = time.perf_counter() - start
    print(f"synthetic: 10,000 samples built in {elapsed:.2f} s")
    assert sum(len(split) for split in bundle.splits.values()) == 10_000
