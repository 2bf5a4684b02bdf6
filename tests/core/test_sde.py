"""Linear SDEs: coefficients against their moment ODEs, integrators against exact Gaussian laws."""

import math

import numpy as np
import pytest

from diffview.core.mixtures import GaussianMixture, mixture_eps, mixture_score
from diffview.core.sde import (
    OUSDE,
    SDES,
    VESDE,
    VPSDE,
    BrownianSDE,
    LinearSDE,
    euler_maruyama_iter,
    make_sde,
    pc_sampler_iter,
    probability_flow_iter,
    reverse_sde_iter,
    sample_reverse,
    score_from_eps,
)

ALL = [make_sde(name) for name in SDES] + [
    BrownianSDE(sigma=0.5, T=3.0), VPSDE(beta_min=0.5, beta_max=0.5), VESDE(0.05, 5.0),
    OUSDE(gamma=0.3, sigma=0.7, T=2.0)]
IDS = [repr(s) for s in ALL]


@pytest.mark.parametrize("sde", ALL, ids=IDS)
def test_kernel_solves_the_moment_odes(sde):
    # For dx = a x dt + g dW the kernel obeys dm/dt = a m and d(s^2)/dt = 2 a s^2 + g^2.
    h = 1e-6
    for t in np.linspace(0.05, 0.95, 7) * sde.T:
        dm = (sde.mean_coef(t + h) - sde.mean_coef(t - h)) / (2 * h)
        dv = (sde.marginal_std(t + h) ** 2 - sde.marginal_std(t - h) ** 2) / (2 * h)
        a, g, m, s = sde.drift_coef(t), sde.diffusion(t), sde.mean_coef(t), sde.marginal_std(t)
        assert dm == pytest.approx(a * m, rel=1e-6, abs=1e-9)
        assert dv == pytest.approx(2 * a * s * s + g * g, rel=1e-6)


@pytest.mark.parametrize("sde", ALL, ids=IDS)
def test_kernel_starts_at_the_data(sde):
    assert sde.mean_coef(0.0) == 1.0
    assert sde.marginal_std(0.0) == 0.0
    x = np.array([[1.0, -2.0]])
    np.testing.assert_allclose(sde.drift(x, 0.3 * sde.T), sde.drift_coef(0.3 * sde.T) * x)


def test_closed_forms():
    vp = VPSDE()
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(vp.mean_coef(t) ** 2 + vp.marginal_std(t) ** 2, 1.0, rtol=1e-12)
    assert vp.mean_coef(1.0) == pytest.approx(math.exp(-0.25 * (0.1 + 20.0)))
    ve = VESDE(0.01, 10.0)
    assert ve.marginal_std(1.0) ** 2 == pytest.approx(100.0 - 1e-4)
    assert ve.diffusion(0.0) == pytest.approx(0.01 * math.sqrt(2 * math.log(1000.0)))
    ou = OUSDE(gamma=2.0, sigma=3.0, T=50.0)
    assert ou.marginal_std(50.0) == pytest.approx(ou.stationary_std()) == pytest.approx(1.5)
    br = BrownianSDE(sigma=2.0, T=4.0)
    assert br.marginal_std(4.0) == pytest.approx(4.0)
    assert br.prior_std() == pytest.approx(4.0)


@pytest.mark.parametrize("sde", ALL, ids=IDS)
def test_time_for_ratio_inverts_noise_to_signal(sde):
    t = np.linspace(0.01, 1.0, 9) * sde.T
    r = sde.noise_to_signal(t)
    assert np.all(np.diff(r) > 0)
    np.testing.assert_allclose(sde.time_for_ratio(r), t, rtol=1e-9)
    # the closed forms agree with the generic bisection of the base class
    np.testing.assert_allclose(LinearSDE.time_for_ratio(sde, r), t, rtol=1e-9)
    # out of range ratios clip to the ends
    assert sde.time_for_ratio(10 * r[-1] + 1.0) == pytest.approx(sde.T)
    assert sde.time_for_ratio(0.0, t_min=1e-4) == pytest.approx(1e-4)


def test_time_grids_are_ascending_and_span():
    for sde in ALL:
        grid = sde.time_grid(50, 1e-3)
        assert grid.shape == (51,)
        assert grid[0] == pytest.approx(1e-3) and grid[-1] == pytest.approx(sde.T)
        assert np.all(np.diff(grid) > 0)
    # Brownian: uniform in s(t) = sigma sqrt(t)
    br = BrownianSDE()
    assert np.allclose(np.diff(np.sqrt(br.time_grid(20))), math.sqrt(br.T) / 20)


def test_prior_matches_marginal_of_origin_and_logp():
    rng = np.random.default_rng(0)
    for sde in ALL:
        x = sde.prior_sample((40000, 2), rng)
        s = sde.marginal_std(sde.T)
        # variance of a sample variance: 2 s^4 / n per coordinate, 80000 coordinates
        assert np.var(x) == pytest.approx(s * s, rel=4 * math.sqrt(2 / 80000))
        single = GaussianMixture([1.0], [[0.0, 0.0]], [s * s * np.eye(2)])
        np.testing.assert_allclose(sde.prior_logp(x[:100]), single.log_prob(x[:100]), rtol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        make_sde("nope")
    with pytest.raises(ValueError, match="sigma"):
        BrownianSDE(sigma=0.0)
    with pytest.raises(ValueError, match="beta_max"):
        VPSDE(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="sigma_max"):
        VESDE(sigma_min=1.0, sigma_max=1.0)
    with pytest.raises(ValueError, match="gamma"):
        OUSDE(gamma=-1.0)
    sde = VPSDE()
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="n_steps"):
        next(euler_maruyama_iter(sde, x, 0, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="t_end"):
        next(reverse_sde_iter(sde, lambda y, t: -y, x, 5, np.random.default_rng(0), t_end=1.0))
    with pytest.raises(ValueError, match="noise"):
        next(euler_maruyama_iter(sde, x, 4, noise=np.zeros((3, 3, 2))))
    with pytest.raises(ValueError, match="rng"):
        next(euler_maruyama_iter(sde, x, 4))
    with pytest.raises(ValueError, match="method"):
        next(probability_flow_iter(sde, lambda y, t: -y, x, 4, method="rk4"))
    with pytest.raises(ValueError, match="n_corrector"):
        next(pc_sampler_iter(sde, lambda y, t: -y, x, 4, np.random.default_rng(0), n_corrector=-1))
    with pytest.raises(ValueError, match="method"):
        sample_reverse(sde, lambda y, t: -y, x, 4, method="x")


@pytest.mark.parametrize("name", SDES)
def test_euler_maruyama_matches_the_kernel(name):
    sde = make_sde(name)
    n = 10000
    x0 = np.tile(np.array([[1.5, -0.5]]), (n, 1))
    frames = list(euler_maruyama_iter(sde, x0, 200, np.random.default_rng(1)))
    assert len(frames) == 200
    assert frames[-1][0] == pytest.approx(sde.T)
    for time, x in (frames[49], frames[-1]):
        m, s = sde.mean_coef(time), sde.marginal_std(time)
        # Euler-Maruyama's O(dt) bias is a few 1e-3 relative with 200 steps, inside the bands.
        np.testing.assert_allclose(x.mean(axis=0), m * x0[0], atol=4 * s / math.sqrt(n) + 1e-3)
        np.testing.assert_allclose(x.var(axis=0), s * s, rtol=4 * math.sqrt(2 / n) + 5e-3)


def test_explicit_noise_reproduces_runs():
    sde = VPSDE()
    x0 = np.random.default_rng(2).standard_normal((50, 2))
    noise = np.random.default_rng(3).standard_normal((10, 50, 2))
    a = [x for _, x in euler_maruyama_iter(sde, x0, 10, noise=noise)]
    b = [x for _, x in euler_maruyama_iter(sde, x0, 10, noise=noise)]
    np.testing.assert_array_equal(a[-1], b[-1])
    c = [x for _, x in euler_maruyama_iter(sde, x0, 10, np.random.default_rng(3))]
    np.testing.assert_array_equal(a[-1], c[-1])  # the rng draws the same stream


def _gaussian(var=0.25, mean=(0.5, -1.0)):
    return GaussianMixture([1.0], [mean], [var * np.eye(2)])


@pytest.mark.parametrize("name", SDES)
def test_reverse_sde_recovers_a_gaussian(name):
    # Data N(mu, v I); started from the exact marginal at T, the reverse SDE with the exact
    # score must end on the exact marginal at t_end: mean m mu, variance m^2 v + s^2.
    sde = make_sde(name)
    mix = _gaussian()
    rng = np.random.default_rng(4)
    n, t_end = 8000, 1e-3
    x_T = mix.marginal(sde, sde.T).sample(n, rng)
    frames = list(reverse_sde_iter(sde, lambda x, t: mixture_score(mix, sde, x, t), x_T, 200,
                                   rng, t_end=t_end))
    assert len(frames) == 200
    times = [t for t, _ in frames]
    assert np.all(np.diff(times) < 0) and times[-1] == pytest.approx(t_end)
    x = frames[-1][1]
    m, s = sde.mean_coef(t_end), sde.marginal_std(t_end)
    var = m * m * 0.25 + s * s
    np.testing.assert_allclose(x.mean(axis=0), m * mix.means[0],
                               atol=4 * math.sqrt(var / n) + 0.01)
    # Euler-Maruyama with 200 steps leaves about a per cent in the variance
    np.testing.assert_allclose(x.var(axis=0), var, rtol=4 * math.sqrt(2 / n) + 0.02)


@pytest.mark.parametrize("name", SDES)
def test_probability_flow_maps_quantiles_to_quantiles(name):
    # For an isotropic Gaussian the flow is the linear map sending N(m(T) mu, v_T) to
    # N(m mu, v): each point keeps its standardised coordinates.  Deterministic, so per-point.
    sde = make_sde(name)
    mix = _gaussian()
    rng = np.random.default_rng(5)
    t_end = 1e-3
    x_T = mix.marginal(sde, sde.T).sample(500, rng)

    def sd(t):
        return math.sqrt(sde.mean_coef(t) ** 2 * 0.25 + sde.marginal_std(t) ** 2)

    mu = mix.means[0]
    z = (x_T - sde.mean_coef(sde.T) * mu) / sd(sde.T)
    exact = sde.mean_coef(t_end) * mu + sd(t_end) * z

    def score(x, t):
        return mixture_score(mix, sde, x, t)

    errs = {}
    for method in ("euler", "heun"):
        frames = list(probability_flow_iter(sde, score, x_T, 100, t_end=t_end, method=method))
        errs[method] = np.max(np.abs(frames[-1][1] - exact))
    assert errs["heun"] < 0.01
    assert errs["heun"] < errs["euler"]


@pytest.mark.parametrize("name", ["vp", "ou"])
def test_pc_sampler_recovers_a_gaussian(name):
    sde = make_sde(name)
    mix = _gaussian()
    rng = np.random.default_rng(6)
    n, t_end = 6000, 1e-3
    x_T = mix.marginal(sde, sde.T).sample(n, rng)
    out = sample_reverse(sde, lambda x, t: mixture_score(mix, sde, x, t), x_T, 150, rng,
                         method="pc", snr=0.16, n_corrector=1, t_end=t_end)
    m, s = sde.mean_coef(t_end), sde.marginal_std(t_end)
    var = m * m * 0.25 + s * s
    np.testing.assert_allclose(out.mean(axis=0), m * mix.means[0],
                               atol=4 * math.sqrt(var / n) + 0.01)
    np.testing.assert_allclose(out.var(axis=0), var, rtol=4 * math.sqrt(2 / n) + 0.02)


def test_pc_sampler_noise_layout_and_zero_correctors():
    # With no corrector the PC sampler is the reverse SDE, draw for draw.
    sde = VESDE()
    mix = _gaussian()

    def score(x, t):
        return mixture_score(mix, sde, x, t)

    x_T = np.random.default_rng(7).standard_normal((30, 2))
    noise = np.random.default_rng(8).standard_normal((12, 30, 2))
    pc = list(pc_sampler_iter(sde, score, x_T, 12, n_corrector=0, noise=noise))
    rev = list(reverse_sde_iter(sde, score, x_T, 12, noise=noise))
    np.testing.assert_allclose(pc[-1][1], rev[-1][1], rtol=1e-12)
    with pytest.raises(ValueError, match="noise"):
        next(pc_sampler_iter(sde, score, x_T, 12, n_corrector=1, noise=noise))


def test_denoise_last_drops_only_the_final_noise():
    sde = VPSDE()
    mix = _gaussian()

    def score(x, t):
        return mixture_score(mix, sde, x, t)

    x_T = np.random.default_rng(9).standard_normal((20, 2))
    noise = np.random.default_rng(10).standard_normal((5, 20, 2))
    a = list(reverse_sde_iter(sde, score, x_T, 5, noise=noise, denoise_last=True))
    b = list(reverse_sde_iter(sde, score, x_T, 5, noise=noise, denoise_last=False))
    np.testing.assert_array_equal(a[3][1], b[3][1])
    times = sde.time_grid(5, 1e-3)
    dt = times[1] - times[0]
    expected = sde.diffusion(times[1]) * math.sqrt(dt) * noise[4]
    np.testing.assert_allclose(b[4][1] - a[4][1], expected)


@pytest.mark.parametrize("target", ALL, ids=IDS)
def test_score_from_eps_serves_every_sde(target):
    # The exact VP epsilon of a mixture stands in for a trained network: converted, it must
    # give the exact score of the same mixture under any other linear SDE.
    mix = GaussianMixture([0.3, 0.7], [[-1.0, 0.5], [1.0, 0.0]],
                          [[[0.2, 0.05], [0.05, 0.1]], 0.3 * np.eye(2)])
    vp = VPSDE()
    calls = []

    def eps_fn(x, t):
        calls.append(t)
        return mixture_eps(mix, vp, x, t)

    score = score_from_eps(eps_fn, vp, target)
    x = np.random.default_rng(11).standard_normal((64, 2)) * 2
    for t in np.array([0.02, 0.3, 0.9]) * target.T:
        np.testing.assert_allclose(score(x, t), mixture_score(mix, target, x, t), rtol=1e-6,
                                   atol=1e-9)
    assert calls[0].shape == (64,) and np.all(calls[0] == calls[0][0])


def test_score_from_eps_arguments():
    with pytest.raises(ValueError, match="t_min"):
        score_from_eps(lambda x, t: x, VPSDE(), VESDE(), t_min=2.0)
