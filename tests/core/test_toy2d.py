"""Toy 2-D sets: shapes, reproducibility, and the geometry each set promises."""

import math

import numpy as np
import pytest

from diffview.core import toy2d
from diffview.core.toy2d import TOY_DATASETS, sample_toy, toy_mixture

N = 4000
# A point of N(mu, w^2 I) lies within 3 w of mu with probability 1 - exp(-9/2) (chi, 2 dof);
# the means sit on the curve, so at least that fraction lies within 3 w of the curve.
P_NEAR = 1.0 - math.exp(-4.5)


def _at_least(frac, p, n):
    """frac is not significantly below p: 4 binomial standard errors."""
    return frac >= p - 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_shapes_seeds_and_scale(name):
    x = sample_toy(name, N, np.random.default_rng(0))
    assert x.shape == (N, 2) and x.dtype == np.float64
    np.testing.assert_array_equal(x, sample_toy(name, N, np.random.default_rng(0)))
    assert not np.array_equal(x, sample_toy(name, N, np.random.default_rng(1)))
    mix = toy_mixture(name)
    assert mix is toy_mixture(name)  # cached
    assert mix.dim == 2
    # unit-ish: centred, per-axis standard deviation between 0.5 and 2, nothing beyond ~4.5
    assert np.all(np.abs(mix.mean()) < 0.5)
    sd = np.sqrt(np.diag(mix.covariance()))
    assert np.all((sd > 0.5) & (sd < 2.0))
    assert np.quantile(np.linalg.norm(x, axis=1), 0.999) < 4.5


def test_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        toy_mixture("swiss_roll")


def _arc_distance(x, center, radius, start, stop):
    rel = x - center
    ang = np.mod(np.arctan2(rel[:, 1], rel[:, 0]) - start, 2 * math.pi)
    on_arc = ang <= (stop - start)
    d_circle = np.abs(np.linalg.norm(rel, axis=1) - radius)
    ends = [center + radius * np.array([math.cos(a), math.sin(a)]) for a in (start, stop)]
    d_ends = np.min([np.linalg.norm(x - e, axis=1) for e in ends], axis=0)
    return np.where(on_arc, d_circle, d_ends)


def test_moons_lie_on_two_arcs_in_equal_shares():
    x = sample_toy("moons", N, np.random.default_rng(2))
    arcs = toy2d.moons_curves()
    dists = np.stack([_arc_distance(x, *arc) for arc in arcs])
    assert _at_least(np.mean(dists.min(axis=0) <= 3 * toy2d.CURVE_STD), P_NEAR, N)
    # equal arcs with equal component spacing: half the points on each (4 SE)
    share = np.mean(np.argmin(dists, axis=0) == 0)
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / N)
    # the upper moon opens downwards: its points sit above its centre on average
    upper = x[np.argmin(dists, axis=0) == 0]
    assert np.mean(upper[:, 1]) > arcs[0][0][1] + 0.5


def test_rings_radii_and_shares():
    x = sample_toy("rings", N, np.random.default_rng(3))
    r = np.linalg.norm(x, axis=1)
    radii = np.array(toy2d.RING_RADII)
    d = np.abs(r[:, None] - radii[None])
    assert _at_least(np.mean(d.min(axis=1) <= 3 * toy2d.CURVE_STD), P_NEAR, N)
    # uniform density along the rings: shares proportional to the circumferences
    counts = np.bincount(np.argmin(d, axis=1), minlength=radii.size)
    expected = N * radii / radii.sum()
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 13.8  # chi-square, 2 degrees of freedom, 99.9 % point
    # and uniform in angle on each ring: the mean direction is near zero
    ang = np.arctan2(x[:, 1], x[:, 0])
    assert abs(np.mean(np.exp(1j * ang))) < 4 / math.sqrt(N)


def test_spiral_lies_on_the_spiral():
    x = sample_toy("spiral", 2000, np.random.default_rng(4))
    curve = toy2d.spiral_points(spacing=0.02)
    d = np.min(np.linalg.norm(x[:, None, :] - curve[None], axis=2), axis=1)
    # the polyline of the tabulated curve is within 0.01 of every point on the spiral
    assert _at_least(np.mean(d <= 3 * toy2d.CURVE_STD + 0.01), P_NEAR, 2000)
    # the spiral winds out: radius grows with the polar angle along the curve
    r_curve = np.linalg.norm(curve - toy2d.spiral_center(), axis=1)
    assert np.all(np.diff(r_curve) > 0)
    assert r_curve[-1] == pytest.approx(toy2d.SPIRAL_MAX_RADIUS, rel=1e-6)


def test_eight_gaussians():
    x = sample_toy("8gaussians", N, np.random.default_rng(5))
    ang = np.arange(8) * math.pi / 4
    centres = toy2d.EIGHT_RADIUS * np.column_stack([np.cos(ang), np.sin(ang)])
    d = np.linalg.norm(x[:, None, :] - centres[None], axis=2)
    assert _at_least(np.mean(d.min(axis=1) <= 3 * toy2d.EIGHT_STD), P_NEAR, N)
    counts = np.bincount(np.argmin(d, axis=1), minlength=8)
    chi2 = np.sum((counts - N / 8) ** 2 / (N / 8))
    assert chi2 < 24.3  # chi-square, 7 degrees of freedom, 99.9 % point


def _mass_in_box(mean, std, lo, hi):
    """P(mean + std z in the box [lo, hi]^2 coordinatewise), z standard normal in 2-D."""
    def cdf(v):
        return 0.5 * (1 + math.erf(v / math.sqrt(2)))
    out = 1.0
    for j in range(2):
        out *= cdf((hi[j] - mean[j]) / std) - cdf((lo[j] - mean[j]) / std)
    return out


def test_checkerboard_mostly_in_the_black_squares():
    mix = toy_mixture("checkerboard")
    corners = toy2d.checker_squares()
    side = toy2d.CHECKER_SIDE
    # a 4 x 4 board in [-2, 2]^2 with the squares of even i + j filled: 8 of 16
    assert corners.shape == (8, 2)
    assert np.all((np.floor(corners[:, 0] + 2) + np.floor(corners[:, 1] + 2)) % 2 == 0)
    # the exact probability of landing in a filled square, from the mixture
    p_in = sum(w * sum(_mass_in_box(m, toy2d.CHECKER_STD, c, c + side) for c in corners)
               for w, m in zip(mix.weights, mix.means, strict=True))
    assert p_in > 0.85
    x = sample_toy("checkerboard", N, np.random.default_rng(6))
    cell = np.floor(x + 2.0).astype(int)
    inside = np.all((cell >= 0) & (cell < 4), axis=1)
    in_black = inside & ((cell[:, 0] + cell[:, 1]) % 2 == 0)
    assert abs(np.mean(in_black) - p_in) < 4 * math.sqrt(p_in * (1 - p_in) / N)


def test_double_gaussian_is_two_clusters():
    mix = toy_mixture("double_gaussian")
    assert mix.n_components == 2
    x, labels = mix.sample(N, np.random.default_rng(7), return_labels=True)
    # each point is far more likely under its own component: responsibilities classify it
    r = mix.responsibilities(x)
    assert np.mean(np.argmax(r, axis=1) == labels) > 0.99
    for k in range(2):
        pts = x[labels == k]
        np.testing.assert_allclose(pts.mean(axis=0), mix.means[k],
                                   atol=4 * math.sqrt(np.max(np.diag(mix.covs[k])) / len(pts)))


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_scores_are_finite_everywhere(name):
    mix = toy_mixture(name)
    grid = np.stack(np.meshgrid(np.linspace(-8, 8, 41), np.linspace(-8, 8, 41)), -1).reshape(-1, 2)
    assert np.all(np.isfinite(mix.score(grid)))
    assert np.all(np.isfinite(mix.log_prob(grid)))
