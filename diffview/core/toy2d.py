"""Two-dimensional toy data sets, each defined as a Gaussian mixture so its score is exact.

Notation
--------
Every set is p_0(x) = sum_k w_k N(x; mu_k, C_k) (see :mod:`diffview.core.mixtures`), so under any
linear SDE of :mod:`diffview.core.sde` its marginal p_t and score grad log p_t are known in
closed form (Song et al. 2021, "Score-Based Generative Modeling through SDEs", appendix B).
Curves (moons, spiral, rings) are chains of narrow isotropic Gaussians of standard deviation
``w`` placed at equal arc-length spacing ``h ~ 2 w``, with equal weights: the density is then
uniform along the curve up to a ripple of relative size ~2 exp(-2 pi^2 w^2 / h^2) ~ 1 %.
The checkerboard fills its squares with a 4 x 4 grid of small Gaussians each.

All sets are centred near the origin with |x| up to about 3.5, the scale of the priors of the
SDEs (unit variance for VP and OU).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from .mixtures import GaussianMixture

TOY_DATASETS = ("double_gaussian", "moons", "8gaussians", "spiral", "checkerboard", "rings")

# Width of the narrow components along curves, and their spacing along the arc.
CURVE_STD = 0.1
CURVE_SPACING = 0.2

MOON_RADIUS = 1.5
RING_RADII = (1.0, 2.0, 3.0)
EIGHT_RADIUS = 2.5
EIGHT_STD = 0.25
CHECKER_SIDE = 1.0          # board of 4 x 4 squares on [-2, 2]^2
CHECKER_PER_SIDE = 4        # small Gaussians per side of a square
CHECKER_STD = 0.1
SPIRAL_TURNS = (0.5 * math.pi, 4.0 * math.pi)   # polar angle range
SPIRAL_MAX_RADIUS = 3.5


def _isotropic(means: np.ndarray, std: float, weights=None) -> GaussianMixture:
    means = np.asarray(means, dtype=np.float64)
    k = means.shape[0]
    covs = np.broadcast_to(std * std * np.eye(2), (k, 2, 2))
    w = np.ones(k) if weights is None else weights
    return GaussianMixture(w, means, covs)


def _arc_points(center, radius: float, start: float, stop: float,
                spacing: float = CURVE_SPACING) -> np.ndarray:
    """Points at equal arc-length spacing on a circular arc from angle start to stop, (n, 2)."""
    n = max(2, int(round(abs(stop - start) * radius / spacing)))
    full_circle = math.isclose(abs(stop - start), 2 * math.pi)
    # a closed circle must not put two components on the same spot
    ang = np.linspace(start, stop, n, endpoint=not full_circle)
    return np.column_stack([center[0] + radius * np.cos(ang), center[1] + radius * np.sin(ang)])


def moons_curves() -> tuple[tuple[np.ndarray, float, float, float], ...]:
    """The two moons as (centre, radius, start angle, stop angle) arcs, in data coordinates."""
    # sklearn's moons (upper arc centred at (0, 0), lower at (1, 0.5)), shifted to centre
    # them on the origin and scaled by MOON_RADIUS.
    s = MOON_RADIUS
    return ((np.array([-0.5, -0.25]) * s, s, 0.0, math.pi),
            (np.array([0.5, 0.25]) * s, s, math.pi, 2 * math.pi))


def _raw_spiral(spacing: float) -> np.ndarray:
    lo, hi = SPIRAL_TURNS
    c = SPIRAL_MAX_RADIUS / hi
    # arc length of r = c theta is c/2 [theta sqrt(1+theta^2) + asinh(theta)]; tabulate and invert
    theta = np.linspace(lo, hi, 20001)
    arc = 0.5 * c * (theta * np.sqrt(1 + theta**2) + np.arcsinh(theta))
    n = int(round((arc[-1] - arc[0]) / spacing)) + 1
    th = np.interp(np.linspace(arc[0], arc[-1], n), arc, theta)
    return np.column_stack([c * th * np.cos(th), c * th * np.sin(th)])


def spiral_center() -> np.ndarray:
    """The point (2,) the spiral winds around, in data coordinates.

    The Archimedean spiral is shifted so that the mixture's mean is the origin.
    """
    return -_raw_spiral(CURVE_SPACING).mean(axis=0)


def spiral_points(spacing: float = CURVE_SPACING) -> np.ndarray:
    """Points (n, 2) at equal arc-length spacing on the spiral r = c theta about its centre."""
    return _raw_spiral(spacing) + spiral_center()


def checker_squares() -> np.ndarray:
    """Lower-left corners (8, 2) of the filled squares of the 4 x 4 board on [-2, 2]^2."""
    corners = [(-2.0 + i * CHECKER_SIDE, -2.0 + j * CHECKER_SIDE)
               for i in range(4) for j in range(4) if (i + j) % 2 == 0]
    return np.array(corners)


def _build(name: str) -> GaussianMixture:
    if name == "double_gaussian":
        # seed 003's "simplest nontrivial example": two blobs of different shape and weight
        means = np.array([[-1.5, -0.5], [1.5, 0.5]])
        covs = np.array([[[0.3, 0.1], [0.1, 0.2]], [[0.25, -0.12], [-0.12, 0.4]]])
        return GaussianMixture([0.4, 0.6], means, covs)
    if name == "moons":
        pts = np.concatenate([_arc_points(*arc) for arc in moons_curves()])
        return _isotropic(pts, CURVE_STD)
    if name == "8gaussians":
        ang = np.arange(8) * (2 * math.pi / 8)
        return _isotropic(EIGHT_RADIUS * np.column_stack([np.cos(ang), np.sin(ang)]), EIGHT_STD)
    if name == "spiral":
        return _isotropic(spiral_points(), CURVE_STD)
    if name == "checkerboard":
        offs = (np.arange(CHECKER_PER_SIDE) + 0.5) * (CHECKER_SIDE / CHECKER_PER_SIDE)
        ox, oy = np.meshgrid(offs, offs)
        cell = np.column_stack([ox.ravel(), oy.ravel()])
        means = (checker_squares()[:, None, :] + cell[None]).reshape(-1, 2)
        return _isotropic(means, CHECKER_STD)
    if name == "rings":
        pts = np.concatenate([_arc_points((0.0, 0.0), r, 0.0, 2 * math.pi) for r in RING_RADII])
        return _isotropic(pts, CURVE_STD)
    raise ValueError(f"name must be one of {TOY_DATASETS}, got {name!r}")


@cache
def toy_mixture(name: str) -> GaussianMixture:
    """The Gaussian mixture defining toy set ``name`` (one of :data:`TOY_DATASETS`); cached."""
    return _build(name)


def sample_toy(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` points of toy set ``name`` from its mixture, shape (n, 2)."""
    return toy_mixture(name).sample(n, rng)
