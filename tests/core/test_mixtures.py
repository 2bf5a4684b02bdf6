"""Gaussian mixtures: densities, exact scores, marginals under SDEs, and samplers driven by them."""

import math

import numpy as np
import pytest

from diffview.core.mixtures import (
    GaussianMixture,
    density_grid,
    mixture_eps,
    mixture_score,
    mixture_score_fn,
    sliced_wasserstein,
)
from diffview.core.sde import SDES, euler_maruyama_iter, make_sde, sample_reverse
from diffview.core.toy2d import toy_mixture

COVS = np.array([[[0.3, 0.1], [0.1, 0.2]], [[0.05, 0.0], [0.0, 0.4]], [[0.2, -0.15], [-0.15, 0.3]]])
MIX = GaussianMixture([0.2, 0.5, 0.3], [[-1.5, 0.0], [1.0, 1.0], [0.5, -1.5]], COVS)


def _log_normal(x, mean, cov):
    diff = x - mean
    sol = np.linalg.solve(cov, diff.T).T
    return (-0.5 * np.sum(diff * sol, axis=1) - 0.5 * np.log(np.linalg.det(cov))
            - 0.5 * len(mean) * math.log(2 * math.pi))


def _fd_gradient(f, x, h=1e-5):
    grad = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        grad[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def test_log_prob_matches_a_direct_sum():
    x = np.random.default_rng(0).standard_normal((200, 2)) * 2
    direct = np.log(sum(w * np.exp(_log_normal(x, m, c))
                        for w, m, c in zip(MIX.weights, MIX.means, MIX.covs, strict=True)))
    np.testing.assert_allclose(MIX.log_prob(x), direct, rtol=1e-10)


def test_density_integrates_to_one_and_grid_orientation():
    xs = np.linspace(-6, 6, 241)
    ys = np.linspace(-7, 6, 261)
    grid = density_grid(MIX, xs, ys)
    assert grid.shape == (ys.size, xs.size)
    # the midpoint rule is spectrally accurate for a smooth density that vanishes at the edges
    assert grid.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]) == pytest.approx(1.0, rel=1e-6)
    i, j = 17, 203
    assert grid[i, j] == pytest.approx(math.exp(MIX.log_prob(np.array([[xs[j], ys[i]]]))[0]))


def test_validation():
    with pytest.raises(ValueError, match="means"):
        GaussianMixture([1.0], [0.0, 1.0], [np.eye(2)])
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([1.0, 1.0], [[0.0, 1.0]], [np.eye(2)])
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([-1.0], [[0.0, 1.0]], [np.eye(2)])
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture([1.0], [[0.0, 1.0]], [np.eye(3)])
    with pytest.raises(ValueError, match="symmetric"):
        GaussianMixture([1.0], [[0.0, 1.0]], [[[1.0, 0.5], [0.0, 1.0]]])
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture([1.0], [[0.0, 1.0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="x must"):
        MIX.log_prob(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="2-D"):
        density_grid(GaussianMixture([1.0], [[0.0]], [[[1.0]]]), [0.0], [0.0])
    with pytest.raises(ValueError, match="n must"):
        MIX.sample(-1, np.random.default_rng(0))


def test_weights_are_normalised_and_read_only():
    mix = GaussianMixture([2.0, 6.0], [[0.0, 0.0], [1.0, 1.0]], [np.eye(2)] * 2)
    np.testing.assert_allclose(mix.weights, [0.25, 0.75])
    with pytest.raises(ValueError):
        mix.means[0, 0] = 3.0


def test_sample_moments_and_labels():
    rng = np.random.default_rng(1)
    n = 40000
    x, labels = MIX.sample(n, rng, return_labels=True)
    assert x.shape == (n, 2)
    # component frequencies: chi-square with K - 1 = 2 degrees of freedom, 99.9 % point 13.8
    counts = np.bincount(labels, minlength=3)
    chi2 = np.sum((counts - n * MIX.weights) ** 2 / (n * MIX.weights))
    assert chi2 < 13.8
    cov = MIX.covariance()
    se_mean = np.sqrt(np.diag(cov) / n)
    np.testing.assert_allclose(x.mean(axis=0), MIX.mean(), atol=4 * float(se_mean.max()))
    # the sample covariance of n points has standard error <= sqrt(2 / n) * max variance-ish
    np.testing.assert_allclose(np.cov(x.T), cov, atol=4 * math.sqrt(2 / n) * float(np.max(cov)))
    # the same seed gives the same points
    np.testing.assert_array_equal(MIX.sample(10, np.random.default_rng(5)),
                                  MIX.sample(10, np.random.default_rng(5)))


@pytest.mark.parametrize("name", SDES)
@pytest.mark.parametrize("frac", [0.0, 0.01, 0.2, 0.7])
def test_score_is_the_gradient_of_log_prob(name, frac):
    sde = make_sde(name)
    t = frac * sde.T
    marg = MIX.marginal(sde, t)
    x = np.random.default_rng(2).standard_normal((50, 2)) * 2 * max(1.0, sde.marginal_std(t))
    fd = _fd_gradient(marg.log_prob, x)
    np.testing.assert_allclose(mixture_score(MIX, sde, x, t), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["moons", "checkerboard"])
def test_score_of_narrow_toy_mixtures_is_the_gradient(name):
    mix = toy_mixture(name)
    x = np.random.default_rng(3).uniform(-3, 3, size=(60, 2))
    fd = _fd_gradient(mix.log_prob, x, h=1e-6)
    np.testing.assert_allclose(mix.score(x), fd, rtol=1e-4, atol=1e-4)


def test_far_points_are_stable():
    # log-sum-exp: one component dominates far away, where naive exponentials underflow
    x = np.array([[300.0, 0.0], [0.0, -500.0], [1e4, 1e4]])
    lp = MIX.log_prob(x)
    sc = MIX.score(x)
    assert np.all(np.isfinite(lp)) and np.all(np.isfinite(sc))
    r = MIX.responsibilities(x)
    np.testing.assert_allclose(r.sum(axis=1), 1.0)
    for i in range(3):
        k = int(np.argmax(r[i]))
        expected = -MIX.precisions[k] @ (x[i] - MIX.means[k])
        np.testing.assert_allclose(sc[i], expected, rtol=1e-6)


def test_chunking_does_not_change_results():
    x = np.random.default_rng(4).standard_normal((9000, 2)) * 2
    full = MIX.score(x)
    pieces = np.concatenate([MIX.score(x[i:i + 999]) for i in range(0, 9000, 999)])
    np.testing.assert_allclose(full, pieces, rtol=1e-12)
    np.testing.assert_allclose(MIX.responsibilities(x).sum(axis=1), 1.0)


def test_marginal_parameters_and_time_zero():
    sde = make_sde("vp")
    t = 0.3
    m, s = sde.mean_coef(t), sde.marginal_std(t)
    marg = MIX.marginal(sde, t)
    np.testing.assert_allclose(marg.means, m * MIX.means)
    np.testing.assert_allclose(marg.covs, m * m * MIX.covs + s * s * np.eye(2))
    np.testing.assert_allclose(marg.weights, MIX.weights)
    assert MIX.marginal(sde, 0.0) is MIX


@pytest.mark.parametrize("name", SDES)
def test_marginal_moments_match_simulated_forward_samples(name):
    sde = make_sde(name)
    n = 10000
    rng = np.random.default_rng(6)
    x0 = MIX.sample(n, rng)
    frames = list(euler_maruyama_iter(sde, x0, 200, rng))
    for time, x in (frames[19], frames[99]):
        marg = MIX.marginal(sde, time)
        cov = marg.covariance()
        np.testing.assert_allclose(x.mean(axis=0), marg.mean(),
                                   atol=4 * math.sqrt(float(np.max(np.diag(cov))) / n) + 2e-3)
        np.testing.assert_allclose(np.cov(x.T), cov,
                                   atol=(4 * math.sqrt(2 / n) + 5e-3) * float(np.max(cov)))


def test_mixture_eps_is_scaled_score_and_accepts_time_arrays():
    sde = make_sde("ve")
    x = np.random.default_rng(7).standard_normal((40, 2))
    eps = mixture_eps(MIX, sde, x, 0.4)
    np.testing.assert_allclose(eps, -sde.marginal_std(0.4) * mixture_score(MIX, sde, x, 0.4))
    times = np.where(np.arange(40) % 2 == 0, 0.4, 0.8)
    mixed = mixture_eps(MIX, sde, x, times)
    np.testing.assert_allclose(mixed[::2], eps[::2])
    np.testing.assert_allclose(mixed[1::2], mixture_eps(MIX, sde, x[1::2], 0.8))
    with pytest.raises(ValueError, match="time"):
        mixture_eps(MIX, sde, x, np.zeros(3))


def test_sliced_wasserstein_properties():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((300, 2))
    assert sliced_wasserstein(a, a, rng) == 0.0
    # Shifting a cloud by c moves every projection by theta . c: SW2^2 = |c|^2 E cos^2 = |c|^2/2
    # and SW1 = |c| E|cos| = |c| 2/pi.  With 4000 directions the Monte Carlo errors are 0.6 %
    # and 0.8 % relative (sd of cos^2 is 1/sqrt(8), of |cos| is sqrt(1/2 - 4/pi^2)): 4-5 SE.
    shift = np.array([3.0, 4.0])
    sw = sliced_wasserstein(a, a + shift, np.random.default_rng(9), n_projections=4000)
    assert sw == pytest.approx(5.0 / math.sqrt(2), rel=0.03)
    sw1 = sliced_wasserstein(a, a + shift, np.random.default_rng(9), n_projections=4000, p=1)
    assert sw1 == pytest.approx(5.0 * 2 / math.pi, rel=0.03)
    # Different sizes go through quantiles: a cloud against itself thinned stays close, a
    # shifted copy does not.
    big = rng.standard_normal((3000, 2))
    assert sliced_wasserstein(big[::3], big, rng) < 0.1
    assert sliced_wasserstein(big[::3] + shift, big, rng) > 3.0
    with pytest.raises(ValueError, match="p must"):
        sliced_wasserstein(a, a, rng, p=3)


# the samplers driven by the exact score carry the prior back to the data
SAMPLER_MIX = GaussianMixture([0.3, 0.7], [[-1.5, 0.5], [1.0, -0.5]],
                              [[[0.1, 0.04], [0.04, 0.2]], 0.05 * np.eye(2)])


def _null_bound(n, rng):
    """A bound on the sliced W1 between two independent n-samples of the mixture.

    The distance of two samples of the same law is itself random (~n^(-1/2), with a spread of
    about half its mean): mean + 4 standard deviations over 12 independent pairs.
    """
    null = [sliced_wasserstein(SAMPLER_MIX.sample(n, rng), SAMPLER_MIX.sample(n, rng), rng, p=1)
            for _ in range(12)]
    return float(np.mean(null) + 4 * np.std(null))


@pytest.mark.parametrize(("name", "method", "steps"), [
    ("brownian", "sde", 100), ("vp", "sde", 100), ("ve", "ode", 40), ("ou", "ode", 40),
    ("vp", "pc", 80), ("ve", "pc", 80)])
def test_reverse_samplers_carry_the_prior_to_the_mixture(name, method, steps):
    sde = make_sde(name)
    rng = np.random.default_rng(10)
    n = 3000
    # Start from the exact marginal at T (the prior N(0, s(T)^2 I) is an approximation of it).
    x_T = SAMPLER_MIX.marginal(sde, sde.T).sample(n, rng)
    score = mixture_score_fn(SAMPLER_MIX, sde)
    out = sample_reverse(sde, score, x_T, steps, rng, method=method)
    ref = SAMPLER_MIX.sample(n, rng)
    bound = _null_bound(n, rng)
    sw_out = sliced_wasserstein(out, ref, rng, p=1)
    assert sw_out < bound
    assert sliced_wasserstein(x_T, ref, rng, p=1) > 5 * bound
    # The bound has teeth: stopping early, where the noise is still half the signal, fails it.
    early = sample_reverse(sde, score, x_T, steps, rng, method=method,
                           t_end=sde.time_for_ratio(0.5))
    assert sliced_wasserstein(early, ref, rng, p=1) > bound


def test_prior_sample_is_carried_to_the_mixture_by_the_vp_sde():
    # The VP prior N(0, I) itself (not the exact marginal) also works: m(T)^2 is 4e-5.
    sde = make_sde("vp")
    rng = np.random.default_rng(11)
    n = 3000
    out = sample_reverse(sde, mixture_score_fn(SAMPLER_MIX, sde), sde.prior_sample((n, 2), rng),
                         150, rng)
    assert sliced_wasserstein(out, SAMPLER_MIX.sample(n, rng), rng, p=1) < _null_bound(n, rng)


@pytest.mark.parametrize("d", [1, 3, 5])
def test_other_dimensions(d):
    # The monomial tables must handle any d: compare with direct sums and finite differences.
    rng = np.random.default_rng(20 + d)
    k = 4
    a = rng.standard_normal((k, d, d))
    covs = a @ np.swapaxes(a, 1, 2) + 0.3 * np.eye(d)
    mix = GaussianMixture(rng.random(k) + 0.1, 2 * rng.standard_normal((k, d)), covs)
    x = 1.5 * rng.standard_normal((30, d))
    direct = np.log(sum(w * np.exp(_log_normal(x, m, c))
                        for w, m, c in zip(mix.weights, mix.means, mix.covs, strict=True)))
    np.testing.assert_allclose(mix.log_prob(x), direct, rtol=1e-10)
    np.testing.assert_allclose(mix.score(x), _fd_gradient(mix.log_prob, x), rtol=1e-5, atol=1e-6)
    assert mix.sample(7, rng).shape == (7, d)
