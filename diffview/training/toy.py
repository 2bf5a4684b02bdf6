"""2-D toy sets for training point models, from :mod:`diffview.core.toy2d` when present."""

from __future__ import annotations

import numpy as np

TOY_NAMES = ("double_gaussian", "moons", "8gaussians", "spiral", "checkerboard", "rings")


def sample_points(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` points ``(n, 2)`` float32 of the toy set ``name``."""
    from diffview.core.toy2d import sample_toy

    return np.asarray(sample_toy(name, n, rng), dtype=np.float32)
