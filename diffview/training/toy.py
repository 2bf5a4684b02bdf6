"""2-D point data for training point models: a toy set of :mod:`diffview.core.toy2d`, or any
point array (a drawing, a user's data) through :class:`PointCloud`."""

from __future__ import annotations

import numpy as np

TOY_NAMES = ("double_gaussian", "moons", "8gaussians", "spiral", "checkerboard", "rings")


class PointCloud:
    """Training data given as points.

    A batch draws rows of ``points`` uniformly with replacement and adds isotropic Gaussian
    ``jitter``: with ``jitter > 0`` that is an exact sample of the equal-weight Gaussian kernel
    density (a mixture) centred on the points; with 0 it is the empirical distribution.

    Parameters
    ----------
    points : (N, d) finite array, N >= 1.
    jitter : standard deviation of the added noise (>= 0).
    """

    def __init__(self, points: np.ndarray, jitter: float = 0.0) -> None:
        pts = np.asarray(points, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] < 1:
            raise ValueError(f"points must be an (N, d) array with N >= 1, got shape {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("points must be finite (found NaN or inf)")
        jitter = float(jitter)
        if not np.isfinite(jitter) or jitter < 0:
            raise ValueError(f"jitter must be a finite number >= 0, got {jitter!r}")
        self.points = pts
        self.jitter = jitter

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points ``(n, d)`` float32."""
        x = self.points[rng.integers(0, self.points.shape[0], size=n)]
        if self.jitter > 0:
            x = x + self.jitter * rng.standard_normal(x.shape, dtype=np.float32)
        return np.ascontiguousarray(x, dtype=np.float32)


def sample_points(source: str | PointCloud, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` points ``(n, d)`` float32 of the toy set named ``source`` or of a
    :class:`PointCloud`."""
    if isinstance(source, PointCloud):
        return source.sample(n, rng)
    from diffview.core.toy2d import sample_toy

    return np.asarray(sample_toy(source, n, rng), dtype=np.float32)
