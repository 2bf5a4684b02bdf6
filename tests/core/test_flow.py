"""Flow matching with exact fields: the velocity against its definition, the continuity
equation, the velocity-score relation, the solvers' orders, and the equivalence of the VP
probability-flow ODE with the flow-matching ODE."""

import math

import numpy as np
import pytest

from diffview.core.flow import (
    SOLVERS,
    flow_log_prob,
    flow_marginal,
    flow_score,
    flow_time_grid,
    flow_velocity,
    flow_velocity_fn,
    integrate,
    interpolant_time,
    interpolate,
    ode_iter,
    path_lengths,
    score_from_velocity,
    steps_for_nfe,
    straightness,
    velocity_from_score,
    x0_from_velocity,
)
from diffview.core.mixtures import GaussianMixture, mixture_score_fn, sliced_wasserstein
from diffview.core.sde import VPSDE
from diffview.core.toy2d import toy_mixture

# Full, unequal covariances: the conditioning formula must not assume isotropic components.
COVS = np.array([[[0.3, 0.1], [0.1, 0.2]], [[0.05, 0.0], [0.0, 0.4]], [[0.2, -0.15], [-0.15, 0.3]]])
MIX = GaussianMixture([0.2, 0.5, 0.3], [[-1.5, 0.0], [1.0, 1.0], [0.5, -1.5]], COVS)


@pytest.mark.parametrize("t", [0.25, 0.5, 0.8])
def test_velocity_is_the_conditional_expectation_of_eps_minus_x0(t):
    # E[eps - x0 | x_t = x] by self-normalised importance sampling: x0 ~ p_0, the eps that
    # puts x0 at x is (x - (1-t) x0) / t, with likelihood N(eps; 0, I) as weight.
    rng = np.random.default_rng(1)
    x0 = MIX.sample(1_000_000, rng)
    queries = np.array([[0.3, -0.2], [1.0, 1.2], [-1.0, 0.4], [0.2, -1.1]])
    got = flow_velocity(MIX, queries, t)
    for q, v in zip(queries, got, strict=True):
        eps = (q - (1.0 - t) * x0) / t
        logw = -0.5 * np.sum(eps * eps, axis=1)
        w = np.exp(logw - logw.max())
        ess = w.sum() ** 2 / np.sum(w * w)
        assert ess > 2000  # enough effective samples for the tolerance below
        brute = (w[:, None] * (eps - x0)).sum(axis=0) / w.sum()
        np.testing.assert_allclose(v, brute, atol=0.03)


def test_velocity_at_the_ends():
    x = np.random.default_rng(2).standard_normal((50, 2)) * 2
    # t = 0: x_0 = x is known, eps is independent with mean 0: v = -x.
    np.testing.assert_allclose(flow_velocity(MIX, x, 0.0), -x, atol=1e-12)
    # t = 1: eps = x is known, x_0 is independent: v = x - E[x_0].
    np.testing.assert_allclose(flow_velocity(MIX, x, 1.0), x - MIX.mean(), atol=1e-12)


def test_velocity_takes_a_batch_of_times_and_the_closure_agrees():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 2))
    times = rng.choice([0.1, 0.6, 0.9], size=40)
    batch = flow_velocity(MIX, x, times)
    fn = flow_velocity_fn(MIX)
    for t in (0.1, 0.6, 0.9):
        sel = times == t
        np.testing.assert_allclose(batch[sel], flow_velocity(MIX, x[sel], t), rtol=1e-12)
        np.testing.assert_allclose(fn(x[sel], t), batch[sel], rtol=1e-12)
    with pytest.raises(ValueError, match="t must"):
        flow_velocity(MIX, x, 1.5)
    with pytest.raises(ValueError, match="shape"):
        flow_velocity(MIX, x, times[:3])


def test_marginal_has_the_moments_of_the_interpolant():
    rng = np.random.default_rng(4)
    x0 = MIX.sample(400_000, rng)
    eps = rng.standard_normal(x0.shape)
    t = 0.4
    xt = interpolate(x0, eps, t)
    marg = flow_marginal(MIX, t)
    np.testing.assert_allclose(marg.mean(), (1 - t) * MIX.mean(), atol=1e-12)
    np.testing.assert_allclose(marg.covariance(),
                               (1 - t) ** 2 * MIX.covariance() + t * t * np.eye(2), atol=1e-12)
    np.testing.assert_allclose(xt.mean(axis=0), marg.mean(), atol=5e-3)
    np.testing.assert_allclose(np.cov(xt.T), marg.covariance(), atol=1e-2)
    # and at t = 1 the marginal is the standard normal
    z = rng.standard_normal((10, 2))
    np.testing.assert_allclose(flow_log_prob(MIX, z, 1.0),
                               -0.5 * np.sum(z * z, axis=1) - math.log(2 * math.pi), atol=1e-12)


@pytest.mark.parametrize("t", [0.2, 0.5, 0.85])
def test_continuity_equation_by_finite_differences(t):
    # d/dt p_t + div(p_t v) = 0 with the exact density: v transports p_t forward in t.
    pts = np.array([[0.2, 0.1], [-0.8, 0.3], [0.9, -0.5], [0.0, -1.0], [1.1, 0.9]])
    h = 1e-4

    def p(x, s):
        return np.exp(flow_log_prob(MIX, x, s))

    dp_dt = (p(pts, t + h) - p(pts, t - h)) / (2 * h)
    div = np.zeros(len(pts))
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        flux_hi = p(pts + e, t) * flow_velocity(MIX, pts + e, t)[:, j]
        flux_lo = p(pts - e, t) * flow_velocity(MIX, pts - e, t)[:, j]
        div += (flux_hi - flux_lo) / (2 * h)
    scale = np.max(np.abs(dp_dt))
    assert scale > 1e-2  # the density really changes at these points
    np.testing.assert_allclose(dp_dt + div, 0.0, atol=1e-6 * max(1.0, scale))


@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_velocity_score_relation(t):
    x = np.random.default_rng(5).standard_normal((100, 2)) * 1.5
    v = flow_velocity(MIX, x, t)
    s = flow_score(MIX, x, t)
    # the mixture score uses float32 exponentials (about 1e-7 relative)
    np.testing.assert_allclose(velocity_from_score(s, x, t), v, atol=1e-5)
    np.testing.assert_allclose(score_from_velocity(v, x, t), s, atol=1e-5)
    # x - t v is E[x0 | x], and x0 = (x - t eps)/(1 - t) with E[eps | x] = -t score
    np.testing.assert_allclose(x0_from_velocity(v, x, t), (x + t * t * s) / (1 - t), atol=1e-5)
    with pytest.raises(ValueError, match="singular"):
        velocity_from_score(s, x, 1.0)
    with pytest.raises(ValueError, match="singular"):
        score_from_velocity(v, x, 0.0)


def _null_sw(mix, n, rng, reps=5):
    return max(sliced_wasserstein(mix.sample(n, rng), mix.sample(n, rng), rng, p=1)
               for _ in range(reps))


@pytest.mark.parametrize("name", ["moons", "8gaussians"])
def test_exact_field_samples_match_the_mixture(name):
    mix = toy_mixture(name)
    rng = np.random.default_rng(6)
    n = 3000
    z = rng.standard_normal((n, 2))
    out = integrate("rk4", flow_velocity_fn(mix), z, flow_time_grid(20))
    sw = sliced_wasserstein(out, mix.sample(n, rng), rng, p=1)
    assert sw < 1.5 * _null_sw(mix, n, rng)
    # the bound can fail: a single Euler step from noise lands on the data mean's shrinkage
    bad = integrate("euler", flow_velocity_fn(mix), z, flow_time_grid(1))
    assert sliced_wasserstein(bad, mix.sample(n, rng), rng, p=1) > 3 * _null_sw(mix, n, rng)


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_solver_orders(method, order):
    # dx/dt = -2 t x from t = 1 to 0 has x(0) = x(1) e^{1}
    def v(x, t):
        return -2.0 * t * x

    x1 = np.array([[1.0, -0.5]])
    exact = x1 * math.e
    errs = [abs(integrate(method, v, x1, flow_time_grid(n)) - exact).max() for n in (8, 16)]
    assert errs[0] / errs[1] == pytest.approx(2.0 ** order, rel=0.25)


def test_solvers_evaluate_the_field_as_often_as_they_say():
    calls = []

    def v(x, t):
        calls.append(t)
        return np.zeros_like(x)

    for method, per in SOLVERS.items():
        calls.clear()
        frames = list(ode_iter(method, v, np.zeros((3, 2)), flow_time_grid(5)))
        assert len(frames) == 5 and len(calls) == 5 * per
        assert frames[-1][0] == 0.0
    assert steps_for_nfe("rk4", 20) == 5 and steps_for_nfe("heun", 7) == 3
    with pytest.raises(ValueError, match="method"):
        steps_for_nfe("midpoint", 10)
    with pytest.raises(ValueError, match="nfe"):
        steps_for_nfe("rk4", 3)


def test_vp_probability_flow_is_the_flow_matching_ode_rescaled():
    # With exact fields, the VP probability-flow ODE from x_T and the flow-matching ODE from
    # x_T / c(T) at t(T) = s/(m+s) must end at the same points (up to the factor c).
    mix = toy_mixture("double_gaussian")
    sde = VPSDE()
    score = mixture_score_fn(mix, sde)

    def v_vp(x, tau):
        g2 = sde.beta(tau)
        return -0.5 * g2 * x - 0.5 * g2 * score(x, tau)

    rng = np.random.default_rng(7)
    z = rng.standard_normal((200, 2))
    tau_end = 0.05
    x_vp = integrate("rk4", v_vp, z, np.linspace(1.0, tau_end, 201))
    t0, c0 = interpolant_time(sde.mean_coef(1.0), sde.marginal_std(1.0))
    t1, c1 = interpolant_time(sde.mean_coef(tau_end), sde.marginal_std(tau_end))
    y = integrate("rk4", flow_velocity_fn(mix), z / c0, np.linspace(t0, t1, 201))
    np.testing.assert_allclose(x_vp, c1 * y, atol=2e-3)
    # ... while in between the two paths differ by the factor c(tau) = m + s, up to 1.4
    assert float(interpolant_time(sde.mean_coef(0.3), sde.marginal_std(0.3))[1]) > 1.3


def test_straightness_of_known_paths():
    s = np.linspace(0, 1, 2001)[:, None, None]
    line = s * np.array([[3.0, 4.0]])
    assert straightness(line) == pytest.approx(1.0)
    ang = np.linspace(0, math.pi, 2001)
    half_circle = np.stack([np.cos(ang), np.sin(ang)], axis=1)[:, None, :]
    assert straightness(half_circle) == pytest.approx(math.pi / 2, rel=1e-5)
    length, chord = path_lengths(np.concatenate([line, half_circle], axis=1))
    np.testing.assert_allclose(length, [5.0, math.pi], rtol=1e-5)
    np.testing.assert_allclose(chord, [5.0, 2.0])
    with pytest.raises(ValueError, match="move"):
        straightness(np.zeros((3, 2, 2)))
