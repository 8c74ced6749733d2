"""Small random metric inputs shared by the metric tests (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.evaluate.metrics.inputs import MetricInputs


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_multiclass(seed: int, n: int = 60, c: int = 4) -> MetricInputs:
    """Scores loosely informative of the target; prediction = argmax of the scores."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), target] += 1.0
    scores = softmax(logits)
    return MetricInputs("multiclass", target, scores.argmax(axis=1), scores)


def make_multilabel(seed: int, n: int = 60, labels: int = 3) -> MetricInputs:
    rng = np.random.default_rng(seed)
    target = (rng.random((n, labels)) < 0.4).astype(float)
    scores = 1 / (1 + np.exp(-(rng.normal(size=(n, labels)) + 1.5 * (target - 0.5))))
    return MetricInputs("multilabel", target, (scores > 0.5).astype(float), scores)


def make_sentiment(seed: int, n: int = 60) -> MetricInputs:
    """MOSI-like scores in [-3, 3] on a 1/3 grid (so some labels are exactly 0)."""
    rng = np.random.default_rng(seed)
    target = np.round(rng.uniform(-3, 3, n) * 3) / 3
    prediction = np.clip(target + rng.normal(0, 1.0, n), -3.5, 3.5)
    return MetricInputs("regression", target[:, None], prediction[:, None], prediction[:, None])


@pytest.fixture
def multiclass_inputs() -> MetricInputs:
    return make_multiclass(0)


@pytest.fixture
def multilabel_inputs() -> MetricInputs:
    return make_multilabel(1)


@pytest.fixture
def sentiment_inputs() -> MetricInputs:
    return make_sentiment(2)


MAKERS = {"multiclass": make_multiclass, "multilabel": make_multilabel, "sentiment": make_sentiment}


@pytest.fixture
def make_inputs():
    """``make_inputs(kind, seed, **sizes)`` for kind in multiclass / multilabel / sentiment."""

    def make(kind: str, seed: int, **sizes: int) -> MetricInputs:
        return MAKERS[kind](seed, **sizes)

    return make
