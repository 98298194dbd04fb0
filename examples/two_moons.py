"""The two-moons problem of micrograd's demo notebook: data, loss and one training step.

Shared by ``examples/moons.py`` and ``bench/moons_step.py`` so that the example and the benchmark
run the same code. Every function takes the engine's ``Value`` class (or a model built from it) as
an argument: micrograd 0.1.0 and ``engine`` run this module unchanged, only their import differs.
"""

from __future__ import annotations

import math
import random
from typing import Any

DATA_SEED = 1337
MODEL_SEED = 1337
N_SAMPLES = 100
NOISE = 0.1
L2_ALPHA = 1e-4
STEPS = 100


def make_moons(
    n_samples: int = N_SAMPLES, noise: float = NOISE, seed: int = DATA_SEED
) -> tuple[list[tuple[float, float]], list[int]]:
    """Two interleaving half circles, like ``sklearn.datasets.make_moons``; labels are -1 and +1.

    The outer moon (label -1) is the upper half of the unit circle, the inner moon (label +1) the
    lower half shifted by (1, 0.5); each coordinate gets Gaussian noise of standard deviation
    ``noise``. A private ``random.Random(seed)`` makes the data independent of the global RNG, which
    the engines' ``MLP`` use for their initial weights.
    """
    rng = random.Random(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    for n, label in ((n_outer, -1), (n_inner, 1)):
        for i in range(n):
            angle = math.pi * i / (n - 1) if n > 1 else 0.0
            if label == -1:
                x, y = math.cos(angle), math.sin(angle)
            else:
                x, y = 1.0 - math.cos(angle), 0.5 - math.sin(angle)
            points.append((x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)))
            labels.append(label)
    order = list(range(n_samples))
    rng.shuffle(order)
    return [points[i] for i in order], [labels[i] for i in order]


def make_model(mlp_cls: Any, seed: int = MODEL_SEED) -> Any:
    """``MLP(2, [16, 16, 1])`` with the global RNG seeded first, as the demo notebook does."""
    random.seed(seed)
    return mlp_cls(2, [16, 16, 1])


def loss(
    model: Any,
    X: list[tuple[float, float]],
    y: list[int],
    value_cls: Any,
    alpha: float = L2_ALPHA,
) -> tuple[Any, float]:
    """The demo's full-batch loss: mean SVM hinge loss plus L2 regularisation, and the accuracy."""
    inputs = [list(map(value_cls, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * sum(p * p for p in model.parameters())
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


def learning_rate(step: int, steps: int = STEPS) -> float:
    """The demo's schedule: from 1.0 down to 0.1 over ``steps`` steps."""
    return 1.0 - 0.9 * step / steps


def train_step(
    model: Any, X: list[tuple[float, float]], y: list[int], value_cls: Any, step: int
) -> tuple[float, float]:
    """One step of the demo's loop (forward, zero_grad, backward, SGD); returns (loss, accuracy)."""
    total_loss, acc = loss(model, X, y, value_cls)
    model.zero_grad()
    total_loss.backward()
    lr = learning_rate(step)
    for p in model.parameters():
        p.data -= lr * p.grad
    return total_loss.data, acc
