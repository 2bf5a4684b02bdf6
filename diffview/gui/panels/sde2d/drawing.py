"""Drawing your own distribution: the painted points and the mixture made from them. Qt-free.

A drag on the left plot adds points (at most :data:`~diffview.runs.points2d.MAX_DRAWN_POINTS`);
"Use drawing as data" turns them into a kernel density of small Gaussians
(:func:`diffview.runs.points2d.mixture_from_drawing`), whose score is exact.
"""

from __future__ import annotations

import numpy as np

from diffview.core.mixtures import GaussianMixture
from diffview.runs.points2d import MAX_DRAWN_POINTS, mixture_from_drawing

__all__ = ["Drawing"]


class Drawing:
    """Painted points (``points``, a list of (x, y)) and the mixture last made of them."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []
        self.mixture: GaussianMixture | None = None

    def add(self, x: float, y: float) -> bool:
        """Add a point; False (nothing added) once the drawing is full."""
        if len(self.points) >= MAX_DRAWN_POINTS:
            return False
        self.points.append((float(x), float(y)))
        return True

    def clear(self) -> None:
        self.points = []

    def as_array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64).reshape(-1, 2)

    def use(self, std: float) -> GaussianMixture:
        """Make the mixture of the points with brush ``std``; ValueError when empty."""
        self.mixture = mixture_from_drawing(self.as_array(), std)
        return self.mixture

    def restore(self, points, used: bool, std: float) -> None:
        """A session's drawing: its points, and its mixture when it was in use."""
        self.points = [(float(x), float(y)) for x, y in points]
        self.mixture = mixture_from_drawing(self.as_array(), std) if used and points else None
