"""core.guided2d: labelled mixtures, the exact guided score against finite differences of
w log p_t(x|c) + (1 - w) log p_t(x), and the tilted density's grid."""

import numpy as np
import pytest

from diffview.core.guided2d import (
    LabelledMixture,
    guided_score,
    guided_score_fn,
    sample_grid_density,
    tilted_density_grid,
    toy_labelled,
    two_component,
)
from diffview.core.sde import make_sde
from diffview.core.toy2d import TOY_DATASETS


def _fd_grad(f, x, h=1e-5):
    g = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        g[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("name, c", [("double_gaussian", 1), ("moons", 0), ("8gaussians", 3),
                                     ("rings", 2)])
@pytest.mark.parametrize("w", [0.0, 1.0, 2.5, -0.7])
@pytest.mark.parametrize("time", [0.05, 0.4])
def test_guided_score_is_the_gradient_of_the_tilted_log_density(rng, name, c, w, time):
    lm = toy_labelled(name)
    sde = make_sde("vp")
    x = rng.uniform(-2.5, 2.5, (40, 2))
    full = lm.mixture.marginal(sde, time)
    sub = lm.class_mixture(c).marginal(sde, time)

    def log_tilted(z):
        return w * sub.log_prob(z) + (1 - w) * full.log_prob(z)

    want = _fd_grad(log_tilted, x)
    got = guided_score(lm, sde, x, time, c, w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * max(1.0, abs(w)))
    np.testing.assert_allclose(guided_score_fn(lm, sde, c, w)(x, time), got, rtol=1e-12,
                               atol=1e-12)


def test_class_mixtures_partition_the_mixture(rng):
    for name in TOY_DATASETS:
        lm = toy_labelled(name)
        x = rng.uniform(-3, 3, (30, 2))
        total = sum(lm.prior(c) * np.exp(lm.class_mixture(c).log_prob(x))
                    for c in range(lm.num_classes))
        np.testing.assert_allclose(total, np.exp(lm.mixture.log_prob(x)), rtol=1e-10)
        assert sum(lm.prior(c) for c in range(lm.num_classes)) == pytest.approx(1.0)


def test_bad_labels_and_classes_refused():
    mix = two_component().mixture
    with pytest.raises(ValueError, match="one per component"):
        LabelledMixture(mix, [0])
    with pytest.raises(ValueError, match="every class"):
        LabelledMixture(mix, [0, 2])
    with pytest.raises(ValueError, match="class must be in 0..1"):
        two_component().class_mixture(2)


def test_tilted_grid_at_w1_is_the_class_density_and_sampling_follows_it(rng):
    lm = two_component(separation=3.0, std=0.6)
    axis = np.linspace(-5, 5, 301)
    dens = tilted_density_grid(lm, 0, 1.0, axis, axis)
    gx, gy = np.meshgrid(axis, axis)
    exact = np.exp(lm.class_mixture(0).log_prob(np.column_stack([gx.ravel(), gy.ravel()])))
    np.testing.assert_allclose(dens.ravel(), exact, rtol=2e-3, atol=1e-6)
    pts = sample_grid_density(dens, axis, axis, 20000, rng)
    # N((-1.5, 0), 0.36 I): sample mean within 4 standard errors (0.6 / sqrt(20000) ~ 0.004)
    np.testing.assert_allclose(pts.mean(0), [-1.5, 0.0], atol=0.02)
    np.testing.assert_allclose(pts.std(0), [0.6, 0.6], rtol=0.03)
