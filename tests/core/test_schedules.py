"""Noise schedules: end points, the cosine formula, derived coefficients, the posterior.

The posterior coefficients are checked against a second derivation by Gaussian conjugacy: the
prior q(x_{t-1} | x_0) = N(sqrt(ab_{t-1}) x_0, 1 - ab_{t-1}) times the likelihood
q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t), seen as a function of x_{t-1}, is Gaussian
with precision 1/(1 - ab_{t-1}) + alpha_t/beta_t.
"""

import math

import numpy as np
import pytest

from diffview.core.schedules import SCHEDULES, NoiseSchedule, make_schedule

ALL_T = (2, 10, 50, 1000, 4000)


def test_linear_end_points_at_T_1000():
    s = make_schedule("linear", T=1000)
    assert s.T == 1000
    assert s.betas[0] == pytest.approx(1e-4, rel=1e-12)
    assert s.betas[-1] == pytest.approx(0.02, rel=1e-12)
    # linear: constant increments
    np.testing.assert_allclose(np.diff(s.betas), (0.02 - 1e-4) / 999, rtol=1e-9)


@pytest.mark.parametrize("T", [50, 100, 500, 2000, 4000])
def test_linear_rescaling_keeps_total_noise(T):  # noqa: N803
    # beta scaled by 1000/T: sum of betas = T * mean = 1000 * (1e-4 + 0.02) / 2 for every T
    s = make_schedule("linear", T=T)
    assert s.betas[0] == pytest.approx(1e-4 * 1000 / T, rel=1e-12)
    assert s.betas.sum() == pytest.approx(1000 * (1e-4 + 0.02) / 2, rel=1e-9)


def _cosine_f(t, T, s=0.008):  # noqa: N803
    return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2


@pytest.mark.parametrize("T", [10, 1000, 4000])
def test_cosine_alpha_bar_is_f_ratio_where_unclipped(T):  # noqa: N803
    s = make_schedule("cosine", T=T)
    f0 = _cosine_f(0, T)
    expected = np.array([_cosine_f(t, T) / f0 for t in range(1, T + 1)])
    raw_betas = 1 - expected / np.concatenate([[1.0], expected[:-1]])
    clipped = np.flatnonzero(raw_betas > 0.999)
    first_clip = clipped[0] if clipped.size else T
    assert first_clip >= T - 2  # only the very end is clipped
    np.testing.assert_allclose(s.alpha_bars[:first_clip], expected[:first_clip], rtol=1e-10)
    # where clipped, beta is the cap
    np.testing.assert_array_equal(s.betas[first_clip:], 0.999)


def test_quadratic_has_linear_sqrt_beta():
    s = make_schedule("quadratic", T=1000)
    r = np.sqrt(s.betas)
    np.testing.assert_allclose(np.diff(r), (math.sqrt(0.02) - math.sqrt(1e-4)) / 999, rtol=1e-8)


def test_sigmoid_is_symmetric_logistic():
    s = make_schedule("sigmoid", T=1001)
    lo, hi = 1e-4 * 1000 / 1001, 0.02 * 1000 / 1001
    # the logistic curve is point-symmetric about its midpoint
    np.testing.assert_allclose(s.betas + s.betas[::-1], lo + hi, rtol=1e-12)
    assert s.betas[500] == pytest.approx((lo + hi) / 2, rel=1e-12)
    assert np.all(np.diff(s.betas) > 0)


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("T", ALL_T)
def test_betas_in_open_unit_interval_and_derived_fields(name, T):  # noqa: N803
    s = make_schedule(name, T=T)
    assert s.betas.shape == (T,)
    assert np.all(s.betas > 0) and np.all(s.betas < 1)
    np.testing.assert_array_equal(s.alphas, 1 - s.betas)
    # alpha_bar as an explicit running product (independent of cumprod)
    prod, expected = 1.0, []
    for a in s.alphas:
        prod *= a
        expected.append(prod)
    np.testing.assert_allclose(s.alpha_bars, expected, rtol=1e-12)
    assert np.all(np.diff(s.alpha_bars) < 0)
    assert s.alpha_bars_prev[0] == 1.0
    np.testing.assert_array_equal(s.alpha_bars_prev[1:], s.alpha_bars[:-1])
    np.testing.assert_allclose(s.sqrt_alpha_bars ** 2 + s.sqrt_one_minus_alpha_bars ** 2, 1.0,
                               rtol=1e-12)
    np.testing.assert_allclose(s.snr * (1 - s.alpha_bars), s.alpha_bars, rtol=1e-12)
    np.testing.assert_allclose(10 ** (s.snr_db / 10), s.snr, rtol=1e-9)
    assert s.alpha_bar_at_step(0) == 1.0
    assert s.alpha_bar_at_step(T) == s.alpha_bars[-1]
    assert s.alpha_bar_at_step(1) == s.alpha_bars[0]


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("T", ALL_T)
def test_posterior_matches_gaussian_conjugacy(name, T):  # noqa: N803
    s = make_schedule(name, T=T)
    beta, alpha = s.betas[1:], s.alphas[1:]
    ab_prev = s.alpha_bars[:-1]  # alpha_bar_{t-1} for indices 1..T-1
    precision = 1 / (1 - ab_prev) + alpha / beta
    var = 1 / precision
    # mean = var * (prior precision * prior mean + likelihood precision * x_t / sqrt(alpha))
    c0 = var * np.sqrt(ab_prev) / (1 - ab_prev)
    ct = var * (alpha / beta) / np.sqrt(alpha)
    np.testing.assert_allclose(s.posterior_variance[1:], var, rtol=1e-9)
    np.testing.assert_allclose(s.posterior_mean_coef_x0[1:], c0, rtol=1e-9)
    np.testing.assert_allclose(s.posterior_mean_coef_xt[1:], ct, rtol=1e-9)
    # first step: x_0 is known exactly, the posterior is a point mass at x_0
    assert s.posterior_variance[0] == 0.0
    # (1 - alpha_1 rounds with relative error ~ eps / beta_1)
    assert s.posterior_mean_coef_x0[0] == pytest.approx(1.0, rel=1e-9)
    assert s.posterior_mean_coef_xt[0] == 0.0
    if T > 1:
        np.testing.assert_allclose(s.posterior_log_variance_clipped[1:], np.log(var), rtol=1e-9)
        assert s.posterior_log_variance_clipped[0] == s.posterior_log_variance_clipped[1]


def test_posterior_is_consistent_with_the_forward_marginals():
    # Integrating x_{t-1} ~ q(x_{t-1}|x_t,x_0) over x_t ~ q(x_t|x_0) must give q(x_{t-1}|x_0):
    # mean: c0 + ct sqrt(ab_t) = sqrt(ab_{t-1}); variance: beta~ + ct^2 (1 - ab_t) = 1 - ab_{t-1}
    s = make_schedule("linear", T=1000)
    c0, ct = s.posterior_mean_coef_x0, s.posterior_mean_coef_xt
    np.testing.assert_allclose(c0 + ct * s.sqrt_alpha_bars, np.sqrt(s.alpha_bars_prev),
                               rtol=1e-10)
    np.testing.assert_allclose(s.posterior_variance + ct ** 2 * (1 - s.alpha_bars),
                               1 - s.alpha_bars_prev, rtol=1e-9, atol=1e-15)


def test_arrays_are_read_only():
    s = make_schedule("linear", T=10)
    with pytest.raises(ValueError):
        s.betas[0] = 0.5


@pytest.mark.parametrize("kwargs, word", [
    ({"name": "nope"}, "schedule"),
    ({"T": 1}, "T"),
    ({"T": 0}, "T"),
    ({"T": -5}, "T"),
    ({"T": 2.5}, "T"),
    ({"T": 100_001}, "T"),
])
def test_make_schedule_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_schedule(**kwargs)


@pytest.mark.parametrize("betas", [[0.0, 0.1], [0.1, 1.0], [-0.1, 0.2], [0.1, np.nan], [],
                                   [[0.1, 0.2]]])
def test_noise_schedule_rejects_bad_betas(betas):
    with pytest.raises(ValueError, match="beta"):
        NoiseSchedule(name="custom", betas=np.asarray(betas, dtype=float))


@pytest.mark.parametrize("step", [-1, 11])
def test_alpha_bar_at_step_range(step):
    with pytest.raises(ValueError, match="step"):
        make_schedule("linear", T=10).alpha_bar_at_step(step)
