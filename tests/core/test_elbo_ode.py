"""The probability-flow ODE likelihood against exact log densities (Gaussian, 2-D mixtures).

Tolerances: Heun's method has a global error O(h^2), so halving every step divides the error by
about 4; each test runs N and 2N steps and requires (a) the finer error below a small absolute
bound and (b) the Richardson estimate |lp_N - lp_2N| / 3 to account for it (within a factor 2).
The prior at the end is the exact marginal there, so nothing but the integrator (and, where
used, the Hutchinson estimator) stands between the ODE and the exact density.
"""

import math

import numpy as np
import pytest

from diffview.core import likelihood as LK
from diffview.core.mixtures import GaussianMixture
from diffview.core.schedules import make_schedule
from diffview.core.toy2d import toy_mixture


class LevelKernel:
    """The VP kernel indexed by level B: m = e^{-B/2}, s = sqrt(1 - e^{-B})."""

    def mean_coef(self, level):
        return np.exp(-0.5 * np.asarray(level, dtype=np.float64))

    def marginal_std(self, level):
        return LK.level_std(level)


KERNEL = LevelKernel()


def mixture_eps_div(mix: GaussianMixture, level: float, x: np.ndarray):
    """Exact eps = -s grad log p_B and its divergence -s tr Hess log p_B, (N, d) and (N,)."""
    marg = mix.marginal(KERNEL, level)
    s = float(LK.level_std(level))
    r = marg.responsibilities(x)                                   # (N, K)
    g = -np.einsum("kij,nkj->nki", marg.precisions, x[:, None, :] - marg.means[None])
    g_bar = np.einsum("nk,nki->ni", r, g)
    tr_p = np.trace(marg.precisions, axis1=1, axis2=2)             # (K,)
    trace_hess = np.einsum("nk,nk->n", r, np.sum(g * g, axis=2) - tr_p[None]) \
        - np.sum(g_bar * g_bar, axis=1)
    return -s * g_bar, -s * trace_hess


def integrate(x0, levels, eps_fn, div_fn=None, **kw):
    steps = list(LK.probability_flow_iter(x0, eps_fn, levels, div_at=div_fn, **kw))
    return steps[-1]


def continuous_levels(b_min=1e-3, b_max=12.0):
    return np.geomspace(b_min, b_max, 4001)


# ------------------------------------------------------------------------------ Gaussian


def test_gaussian_ode_likelihood_equals_the_exact_log_density():
    rng = np.random.default_rng(0)
    d, mu, sd = 6, rng.uniform(-0.5, 0.5, 6), 0.25
    all_levels = LK.schedule_levels(make_schedule("linear", 1000))

    def var(b):
        return np.exp(-b) * sd**2 + -np.expm1(-b)

    def logp(x, b):
        return np.sum(-0.5 * (x - np.exp(-b / 2) * mu) ** 2 / var(b)
                      - 0.5 * np.log(2 * np.pi * var(b)), axis=1)

    x0 = mu + sd * rng.standard_normal((8, d))
    results = []
    # a fine continuous level grid for a clean step doubling, then the discrete model's own
    # trained levels (what run_ode_nll uses)
    fine = continuous_levels(all_levels[0], all_levels[-1])
    grids = [fine[LK.ode_grid(fine, 100)], fine[LK.ode_grid(fine, 200)],
             all_levels[LK.ode_grid(all_levels, 100)]]
    for lv in grids:

        def eps(x, j, lv=lv):
            return LK.level_std(lv[j]) * (x - np.exp(-lv[j] / 2) * mu) / var(lv[j])

        def div(x, j, lv=lv):
            return np.full(len(x), d * LK.level_std(lv[j]) / var(lv[j]))

        end = integrate(x0, lv, eps, div)
        results.append(logp(end.x, lv[-1]) + end.div_integral - logp(x0, lv[0]))
    err_n, err_2n, err_model = results
    assert np.max(np.abs(err_2n)) < 0.02          # nats for 6 dims: < 0.005 bits/dim
    assert np.max(np.abs(err_model)) < 0.05
    # over the batch (a single point's leading error term can vanish by a sign change)
    richardson = np.linalg.norm(err_n - err_2n) / 3
    assert np.linalg.norm(err_2n) <= 2 * richardson
    assert np.linalg.norm(err_2n) < np.linalg.norm(err_n) / 3   # second order


# ------------------------------------------------------------------------------ mixtures


@pytest.mark.parametrize("name", ["double_gaussian", "8gaussians"])
def test_mixture_ode_likelihood_equals_the_exact_log_density(name):
    mix = toy_mixture(name)
    rng = np.random.default_rng(1)
    x0 = mix.sample(12, rng)
    fine = continuous_levels()
    errs = []
    for n in (200, 400):
        lv = fine[LK.ode_grid(fine, n)]
        end = integrate(x0, lv, lambda x, j, lv=lv: mixture_eps_div(mix, lv[j], x)[0],
                        lambda x, j, lv=lv: mixture_eps_div(mix, lv[j], x)[1])
        exact_start = mix.marginal(KERNEL, lv[0]).log_prob(x0)
        prior_exact = mix.marginal(KERNEL, lv[-1]).log_prob(end.x)
        errs.append(prior_exact + end.div_integral - exact_start)
    err_n, err_2n = errs
    # 2-D log densities of order -2..-1: a 0.01 nat error is 1 % of the density
    assert np.max(np.abs(err_2n)) < 0.01
    assert np.all(np.abs(err_2n) <= 2 * np.abs(err_n - err_2n) / 3 + 1e-4)


def test_hutchinson_with_finite_differences_is_unbiased_on_a_mixture():
    mix = toy_mixture("8gaussians")
    rng = np.random.default_rng(2)
    level = 0.3
    x = mix.marginal(KERNEL, level).sample(5, rng)
    _, exact = mixture_eps_div(mix, level, x)
    probes = LK.rademacher((4000,) + x.shape, rng)
    step = 1e-4

    def eps(z):
        return mixture_eps_div(mix, level, z)[0]

    e0, est = LK.hutchinson_divergence(eps, x, probes, step, central=True)
    np.testing.assert_allclose(e0, eps(x))
    # per-probe spread of v^T J v for Rademacher v: 2 * (sum of squared off-diagonals)
    per_probe = []
    for v in probes[:200]:
        _, one = LK.hutchinson_divergence(eps, x, v[None], step, central=True)
        per_probe.append(one)
    sd = np.std(per_probe, axis=0)
    assert np.all(np.abs(est - exact) < 4.5 * sd / math.sqrt(probes.shape[0]) + 1e-6)


def test_finite_difference_orders():
    """Forward differences err O(d), central O(d^2): halving d halves / quarters the error."""
    mix = toy_mixture("double_gaussian")
    level = 0.05
    x = np.array([[-1.2, -0.3], [1.0, 0.9]])
    basis = math.sqrt(2.0) * np.eye(2)[:, None, :].repeat(2, axis=1)   # exact trace, 2 probes
    _, exact = mixture_eps_div(mix, level, x)

    def eps(z):
        return mixture_eps_div(mix, level, z)[0]

    def err(step, central):
        return np.abs(LK.hutchinson_divergence(eps, x, basis, step, central)[1] - exact)

    f1, f2 = err(2e-3, False), err(1e-3, False)
    c1, c2 = err(2e-2, True), err(1e-2, True)
    np.testing.assert_allclose(f1 / f2, 2.0, rtol=0.1)
    np.testing.assert_allclose(c1 / c2, 4.0, rtol=0.1)


def test_ode_with_hutchinson_probes_matches_the_exact_divergence_on_average():
    mix = toy_mixture("double_gaussian")
    x0 = mix.sample(3, np.random.default_rng(4))
    fine = continuous_levels()
    lv = fine[LK.ode_grid(fine, 30)]
    eps = lambda x, j: mixture_eps_div(mix, lv[j], x)[0]  # noqa: E731
    exact = integrate(x0, lv, eps, lambda x, j: mixture_eps_div(mix, lv[j], x)[1])
    runs = np.array([integrate(x0, lv, eps, rng=np.random.default_rng(100 + i), n_probes=2,
                               fd_rel=1e-3, central=True).div_integral for i in range(40)])
    # the trajectory does not depend on the probes; the integral is unbiased
    se = runs.std(axis=0, ddof=1) / math.sqrt(runs.shape[0])
    assert np.all(np.abs(runs.mean(axis=0) - exact.div_integral) < 4 * se + 1e-3)


# ------------------------------------------------------------------------------ pieces


def test_schedule_levels_and_the_matching_vpsde():
    sch = make_schedule("linear", 1000)
    lv = LK.schedule_levels(sch)
    np.testing.assert_allclose(np.exp(-lv), sch.alpha_bars, rtol=1e-12)
    sde = LK.schedule_vpsde(sch)
    assert (sde.beta_min, sde.beta_max) == pytest.approx((0.1, 20.0))
    t = (np.arange(1000) + 1) / 1000
    gap = lv - sde.integrated_beta(t)
    # -log(1 - beta) - beta ~ beta^2 / 2 summed, plus the t-grid offset of half a step
    assert 0 < gap[-1] < 0.1
    with pytest.raises(ValueError, match="linear"):
        LK.schedule_vpsde(make_schedule("cosine", 100))


def test_ode_grid_spans_the_levels_and_merges_duplicates():
    lv = LK.schedule_levels(make_schedule("linear", 1000))
    idx = LK.ode_grid(lv, 100)
    assert idx[0] == 0 and idx[-1] == 999
    assert np.all(np.diff(idx) > 0)
    assert 90 <= idx.size <= 101
    assert LK.ode_grid(lv, 5000).size == 1000
    with pytest.raises(ValueError):
        LK.ode_grid(lv[::-1], 10)


def test_dequantised_bpd_of_a_uniform_density_is_eight_bits():
    # the uniform density on the dequantised cube [-1 - 1/255, 1 + 1/255]^D
    d = 784
    log_p = -d * math.log(2.0 + 2.0 / 255.0)
    assert float(LK.dequantised_bpd(np.array([log_p]), d)[0]) == pytest.approx(8.0, abs=1e-12)
    rng = np.random.default_rng(0)
    x = 2.0 * rng.integers(0, 256, (3, 10)) / 255.0 - 1.0
    u = LK.dequantise(x, rng) - x
    assert np.all(np.abs(u) <= 1.0 / 255.0)
