"""Tiny data and configs shared by the training tests."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from diffview.training.config import TrainConfig  # noqa: E402
from diffview.training.data import TrainingData  # noqa: E402


def tiny_images(n: int = 32, size: int = 8, seed: int = 0) -> TrainingData:
    """Bright squares on a dark background, ``(n, 1, size, size)`` in [-1, 1]."""
    rng = np.random.default_rng(seed)
    x = -np.ones((n, 1, size, size), dtype=np.float32)
    for i in range(n):
        r, c = rng.integers(0, size - 3, size=2)
        x[i, 0, r:r + 3, c:c + 3] = 1.0
    return TrainingData("image", x, None, (1, size, size), "squares", ("square",))


@pytest.fixture
def image_data() -> TrainingData:
    return tiny_images()


@pytest.fixture
def make_images():
    return tiny_images


@pytest.fixture
def image_config() -> TrainConfig:
    return TrainConfig(data="squares", steps=6, batch_size=8, lr=2e-3, warmup=2,
                       widths=(4, 8, 8), blocks=(1, 1, 1), T=50, seed=3, threads=1,
                       checkpoint_every=2)


@pytest.fixture
def point_config() -> TrainConfig:
    return TrainConfig(data="toy:moons", steps=6, batch_size=32, lr=1e-3, warmup=0,
                       hidden=16, layers=2, seed=5, threads=1, checkpoint_every=3)
