"""The DDPM bound's terms against closed forms for Gaussian data with its exact epsilon.

Data x0 ~ N(mu, s^2) per dimension has, under q(x_t | x0) = N(a x0, sigma^2) (a^2 = alpha_bar),
the marginal N(a mu, v), v = a^2 s^2 + sigma^2, and the exact noise prediction
eps*(x_t) = sigma (x_t - a mu) / v (Tweedie). With x_t = a x0 + sigma z every KL term is then
a quadratic in z, so Gauss-Hermite quadrature with a few nodes gives its expectation exactly;
the decoder term is integrated with many nodes.
"""

import math

import numpy as np
import pytest

from diffview.core import elbo as E
from diffview.core.forward import posterior_mean_variance
from diffview.core.schedules import make_schedule

GH_Z, GH_W = np.polynomial.hermite_e.hermegauss(60)
GH_W = GH_W / GH_W.sum()          # E[f(z)], z ~ N(0, 1)
GRID = 2.0 * np.arange(256) / 255.0 - 1.0


def exact_eps(x_t, k, schedule, mu, s):
    a = schedule.sqrt_alpha_bars[k]
    sig = schedule.sqrt_one_minus_alpha_bars[k]
    a = np.reshape(a, (-1,) + (1,) * (np.ndim(x_t) - 1)) if np.ndim(a) else a
    sig = np.reshape(sig, (-1,) + (1,) * (np.ndim(x_t) - 1)) if np.ndim(sig) else sig
    return sig * (x_t - a * mu) / (a * a * s * s + sig * sig)


def phi_interval(lo, hi):
    """P(lo < Z < hi) by math.erfc, independent of the module's log-space code: a difference
    of upper tails above 0, of lower tails below 0 (no 1 - 1 cancellation)."""
    sf = np.vectorize(lambda z: 0.5 * math.erfc(z / math.sqrt(2.0)))
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    upper = sf(lo) - sf(hi)
    lower = sf(-hi) - sf(-lo)
    return np.where(lo >= 0, upper, np.where(hi <= 0, lower, 1.0 - sf(-lo) - sf(hi)))


def discretised_gaussian_probs(mu, s):
    """P(pixel n) for N(mu, s^2) data cut into the 256 bins, (256,)."""
    lo = np.concatenate([[-np.inf], GRID[1:] - 1 / 255])
    hi = np.concatenate([GRID[:-1] + 1 / 255, [np.inf]])
    return phi_interval((lo - mu) / s, (hi - mu) / s)


# ------------------------------------------------------------------------- discretised decoder


def test_bin_probabilities_sum_to_one_for_any_mean_and_scale(rng):
    means = rng.uniform(-4, 4, 300)
    log_scales = rng.uniform(-20, 4, 300)
    probs = np.exp(E.bin_log_probs(means, log_scales))
    assert probs.shape == (300, 256)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(probs >= 0)


def test_bin_probabilities_match_erf_and_stay_finite_in_the_tails():
    mean, log_scale = 0.2, math.log(0.05)
    lp = E.bin_log_probs(mean, log_scale)
    lo = np.concatenate([[-np.inf], GRID[1:] - 1 / 255])
    hi = np.concatenate([GRID[:-1] + 1 / 255, [np.inf]])
    direct = phi_interval((lo - mean) / 0.05, (hi - mean) / 0.05)
    ok = direct > 1e-250
    np.testing.assert_allclose(np.exp(lp[ok]), direct[ok], rtol=1e-9, atol=0)
    # far tails (z ~ -24 and +16 here, down to ~-900 for a tiny scale) stay finite and ordered
    tiny = E.bin_log_probs(0.9, math.log(2e-3))
    assert np.all(np.isfinite(tiny))
    assert np.all(np.diff(tiny[:200]) > 0)


def test_log_erfc_series_joins_math_erfc():
    x = np.linspace(20.0, 26.0, 25)
    exact = np.log([math.erfc(v) for v in x])
    np.testing.assert_allclose(E.log_erfc(x), exact, rtol=1e-13)
    # and it keeps going where erfc itself underflows: log erfc(x) ~ -x^2 - log(x sqrt(pi))
    big = E.log_erfc(np.array([1e3]))[0]
    assert big == pytest.approx(-1e6 - math.log(1e3 * math.sqrt(math.pi)), rel=1e-12)


# ----------------------------------------------------------------------------- the terms


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear", 1000)


def test_prior_term_is_the_kl_to_the_standard_normal(schedule):
    # E_q[log q(x) - log N(x; 0, 1)] by quadrature over x = a x0 + sigma z
    x0 = np.array([[-1.0, 0.3, 0.9]])
    a, sig = schedule.sqrt_alpha_bars[-1], schedule.sqrt_one_minus_alpha_bars[-1]
    x = a * x0[..., None] + sig * GH_Z
    log_ratio = -0.5 * GH_Z**2 - math.log(sig) + 0.5 * x**2
    expected = float(np.sum(log_ratio * GH_W))
    assert E.prior_kl(x0, schedule)[0] == pytest.approx(expected, rel=1e-10)


def test_kl_equals_weighted_eps_error_plus_constant(schedule, rng):
    """[H] eq. 12: L_{t-1} = w_t ||eps - eps_theta||^2 + D C_t, for any eps_theta."""
    x0 = rng.uniform(-1, 1, (40, 3, 2))
    ks = rng.integers(1, schedule.T, 40)
    eps = rng.standard_normal(x0.shape)
    x_t = schedule.sqrt_alpha_bars[ks][:, None, None] * x0 \
        + schedule.sqrt_one_minus_alpha_bars[ks][:, None, None] * eps
    eps_theta = eps + 0.3 * rng.standard_normal(x0.shape)
    for variance in E.VARIANCES:
        w, c = E.eps_weights(schedule, variance)
        kl = E.kl_term(x0, x_t, ks, eps_theta, schedule, variance)
        expected = w[ks] * np.sum((eps - eps_theta) ** 2, axis=(1, 2)) + 6 * c[ks]
        np.testing.assert_allclose(kl, expected, rtol=1e-8)
    w_small, c_small = E.eps_weights(schedule, "small")
    np.testing.assert_allclose(c_small[1:], 0.0, atol=1e-12)
    snr = schedule.snr
    np.testing.assert_allclose(w_small[1:], 0.5 * (snr[:-1] / snr[1:] - 1.0), rtol=1e-9)


def _kl_closed_form(schedule, k, x0, mu, s, variance):
    """E_z KL for Gaussian data: the posterior and model means are affine in z."""
    a, sig = schedule.sqrt_alpha_bars[k], schedule.sqrt_one_minus_alpha_bars[k]
    beta, alpha = schedule.betas[k], schedule.alphas[k]
    c0, ct = schedule.posterior_mean_coef_x0[k], schedule.posterior_mean_coef_xt[k]
    v = a * a * s * s + sig * sig

    def diff(z):
        x_t = a * x0 + sig * z
        mu_q = c0 * x0 + ct * x_t
        eps = sig * (x_t - a * mu) / v
        mu_p = (x_t - beta / sig * eps) / math.sqrt(alpha)
        return mu_q - mu_p

    offset = diff(0.0)
    slope = diff(1.0) - offset
    var_q = schedule.posterior_variance[k]
    var_p = var_q if variance == "small" else beta
    return 0.5 * (np.sum(offset**2 + slope**2) / var_p
                  + x0.size * (math.log(var_p / var_q) + var_q / var_p - 1.0))


@pytest.mark.parametrize("variance", E.VARIANCES)
def test_every_kl_term_matches_its_closed_form(schedule, variance):
    mu, s = 0.1, 0.4
    x0 = GRID[[30, 128, 240]][None]                     # (1, 3) pixels of the 8-bit grid
    ks = np.arange(1, schedule.T)
    z = np.array([-1.0, 1.0])                           # 2-node quadrature: exact for quadratics
    rows_k = np.repeat(ks, 2)
    rows_z = np.tile(z, ks.size)[:, None] * np.ones((1, 3))
    a = schedule.sqrt_alpha_bars[rows_k][:, None]
    sig = schedule.sqrt_one_minus_alpha_bars[rows_k][:, None]
    x_t = a * x0 + sig * rows_z
    eps = exact_eps(x_t, rows_k, schedule, mu, s)
    kl = E.kl_term(np.repeat(x0, rows_k.size, 0), x_t, rows_k, eps, schedule, variance)
    got = kl.reshape(-1, 2).mean(axis=1)
    want = np.array([_kl_closed_form(schedule, k, x0[0], mu, s, variance) for k in ks])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)


def test_decoder_term_matches_its_closed_form(schedule, rng):
    mu, s = -0.2, 0.3
    x0 = GRID[[0, 60, 127, 255]]                        # includes both open end bins
    a, sig = schedule.sqrt_alpha_bars[0], schedule.sqrt_one_minus_alpha_bars[0]
    nodes, weights = np.polynomial.hermite_e.hermegauss(24)
    weights = weights / weights.sum()
    x1 = a * x0[:, None] + sig * nodes[None]            # (4, nodes)
    eps = sig * (x1 - a * mu) / (a * a * s * s + sig * sig)
    mean = (x1 - schedule.betas[0] / sig * eps) / math.sqrt(schedule.alphas[0])
    scale = math.sqrt(schedule.posterior_variance[1])   # beta~_2, as in Ho et al.'s code
    lo = np.where(x0[:, None] < -0.999, -np.inf, x0[:, None] - 1 / 255)
    hi = np.where(x0[:, None] > 0.999, np.inf, x0[:, None] + 1 / 255)
    p = phi_interval((lo - mean) / scale, (hi - mean) / scale)
    want = -np.sum(np.log(p) * weights, axis=1)
    # the module on the same nodes, one image per (pixel, node)
    got = E.decoder_nll(np.repeat(x0, nodes.size)[:, None], x1.reshape(-1, 1),
                        eps.reshape(-1, 1), schedule)
    np.testing.assert_allclose((got.reshape(4, -1) * weights).sum(axis=1), want, rtol=1e-9)
    # Monte Carlo with the module's own pipeline agrees within its standard error
    z = rng.standard_normal((20000, 1))
    x1_mc = a * x0[1] + sig * z
    eps_mc = sig * (x1_mc - a * mu) / (a * a * s * s + sig * sig)
    nll = E.decoder_nll(np.full((20000, 1), x0[1]), x1_mc, eps_mc, schedule)
    assert abs(nll.mean() - want[1]) < 4 * nll.std() / math.sqrt(nll.size)


def _expected_bound_per_dim(T, mu, s, variance="small"):  # noqa: N803
    """E over the discretised data and q of the whole bound, one dimension, nats."""
    sch = make_schedule("linear", T)
    probs = discretised_gaussian_probs(mu, s)
    keep = probs > 1e-15
    x0 = GRID[keep]
    w = probs[keep] / probs[keep].sum()
    total = float(w @ E.prior_kl(x0[:, None], sch))
    z2 = np.array([-1.0, 1.0])
    for k in range(1, T):
        a, sig = sch.sqrt_alpha_bars[k], sch.sqrt_one_minus_alpha_bars[k]
        x_t = (a * x0[:, None] + sig * z2).reshape(-1, 1)
        eps = exact_eps(x_t, k, sch, mu, s)
        kl = E.kl_term(np.repeat(x0, 2)[:, None], x_t, k, eps, sch, variance).reshape(-1, 2)
        total += float(w @ kl.mean(axis=1))
    a, sig = sch.sqrt_alpha_bars[0], sch.sqrt_one_minus_alpha_bars[0]
    x1 = (a * x0[:, None] + sig * GH_Z).reshape(-1, 1)
    eps = exact_eps(x1, 0, sch, mu, s)
    dec = E.decoder_nll(np.repeat(x0, GH_Z.size)[:, None], x1, eps, sch).reshape(-1, GH_Z.size)
    total += float(w @ (dec @ GH_W))
    entropy = float(-np.sum(w * np.log(w)))
    return total, entropy


def test_bound_exceeds_the_true_nll_and_the_gap_shrinks_with_T():
    """Gaussian data cut to 8 bits: the bound (exact continuous epsilon) >= the entropy of
    the discretised data, the true NLL of any model; the gap falls as T grows."""
    mu, s = 0.1, 0.3
    gaps = []
    for T in (10, 100, 1000):  # noqa: N806
        bound, entropy = _expected_bound_per_dim(T, mu, s)
        assert bound >= entropy
        gaps.append(bound - entropy)
    # 1.70, 1.15, 0.53 nats/dim: the continuous data's epsilon cannot see the 8-bit grid, so
    # a gap remains, but it shrinks with every tenfold T
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[2] < gaps[0] / 3


def _expected_kl_standard_normal(schedule, k, variance):
    """E over x0 ~ N(0, 1) and z of L_{t-1}, one dimension (product quadrature, exact)."""
    z4, w4 = np.polynomial.hermite_e.hermegauss(4)
    w4 = w4 / w4.sum()
    x0 = np.repeat(z4, 4)[:, None]
    z = np.tile(z4, 4)[:, None]
    weights = np.repeat(w4, 4) * np.tile(w4, 4)
    x_t = schedule.sqrt_alpha_bars[k] * x0 + schedule.sqrt_one_minus_alpha_bars[k] * z
    eps = exact_eps(x_t, k, schedule, 0.0, 1.0)
    return float(weights @ E.kl_term(x0, x_t, k, eps, schedule, variance))


def test_variances_as_ho_et_al_describe(schedule):
    """[H] sec. 3.2: sigma^2 = beta_t is optimal for x0 ~ N(0, I), beta~_t for x0 fixed."""
    ks = [1, 5, 50, 300, 999]
    for k in ks:
        large = _expected_kl_standard_normal(schedule, k, "large")
        small = _expected_kl_standard_normal(schedule, k, "small")
        assert large < small
        # here E||mu~ - mu_theta||^2 = beta - beta~ per dimension, so the expected KL is
        # (beta - beta~) / (2 sigma^2) + (log(sigma^2 / beta~) + beta~ / sigma^2 - 1) / 2,
        # minimal at sigma^2 = beta with the value log(beta / beta~) / 2
        beta, post = schedule.betas[k], schedule.posterior_variance[k]
        assert large == pytest.approx(0.5 * math.log(beta / post), rel=1e-9)
        assert small == pytest.approx((beta - post) / (2 * post), rel=1e-9)
    # a point mass at c: eps*(x_t) = (x_t - a c) / sigma recovers x0, so "small" is exact
    c = GRID[200]
    x0 = np.full((len(ks), 2), c)
    k_arr = np.array(ks)
    z = np.random.default_rng(3).standard_normal(x0.shape)
    a = schedule.sqrt_alpha_bars[k_arr][:, None]
    sig = schedule.sqrt_one_minus_alpha_bars[k_arr][:, None]
    x_t = a * x0 + sig * z
    eps = (x_t - a * c) / sig
    np.testing.assert_allclose(E.kl_term(x0, x_t, k_arr, eps, schedule, "small"), 0.0,
                               atol=1e-9)
    assert np.all(E.kl_term(x0, x_t, k_arr, eps, schedule, "large") > 0)


def test_both_variances_share_the_decoder_variance(schedule):
    small = E.model_log_variance(schedule, "small")
    large = E.model_log_variance(schedule, "large")
    assert small[0] == large[0] == pytest.approx(math.log(schedule.posterior_variance[1]))
    np.testing.assert_allclose(np.exp(large[1:]), schedule.betas[1:], rtol=1e-12)
    np.testing.assert_allclose(np.exp(small[1:]), schedule.posterior_variance[1:], rtol=1e-12)


def test_elbo_terms_dispatch_row_by_row(schedule, rng):
    x0 = GRID[rng.integers(0, 256, (6, 4))]
    ks = np.array([0, 3, 0, 999, 10, 0])
    eps = rng.standard_normal(x0.shape)
    x_t = schedule.sqrt_alpha_bars[ks][:, None] * x0 \
        + schedule.sqrt_one_minus_alpha_bars[ks][:, None] * eps
    got = E.elbo_terms(x0, x_t, ks, eps, schedule)
    for i, k in enumerate(ks):
        one = E.elbo_terms(x0[i:i + 1], x_t[i:i + 1], int(k), eps[i:i + 1], schedule)
        assert got[i] == pytest.approx(one[0], rel=1e-12)
    with pytest.raises(ValueError, match="t_index >= 1"):
        E.kl_term(x0, x_t, ks, eps, schedule)
    with pytest.raises(ValueError, match="variance"):
        E.model_log_variance(schedule, "medium")


def test_posterior_is_reused_from_forward(schedule, rng):
    # kl_term's q is forward.posterior_mean_variance: a KL of zero when p equals it
    x0 = rng.uniform(-1, 1, (3, 5))
    x_t = rng.standard_normal((3, 5))
    k = 17
    mean_q, _, _ = posterior_mean_variance(x0, x_t, schedule, k)
    # the eps that makes mu_theta = mu~: invert eq. 11
    eps = (x_t - math.sqrt(schedule.alphas[k]) * mean_q) * schedule.sqrt_one_minus_alpha_bars[k] \
        / schedule.betas[k]
    np.testing.assert_allclose(E.kl_term(x0, x_t, k, eps, schedule, "small"), 0.0, atol=1e-9)


# ------------------------------------------------------------- strata, rate, loss weights


def test_geometric_strata_cover_every_kl_index_once():
    edges = E.geometric_strata(1000, 32)
    assert edges[0] == 1 and edges[-1] == 1000
    assert np.all(np.diff(edges) >= 1)
    assert np.diff(edges)[0] == 1                       # the first terms are exact
    draws = np.stack([E.stratified_indices(edges, np.random.default_rng(i)) for i in range(200)])
    assert np.all(draws >= edges[:-1]) and np.all(draws < edges[1:])
    # every index of a wide stratum is drawn
    lo, hi = edges[-2], edges[-1]
    many = np.concatenate([E.stratified_indices(edges, np.random.default_rng(i))[-1:]
                           for i in range(5000)])
    assert set(many) == set(range(lo, hi))


def test_rate_distortion_adds_up():
    rng = np.random.default_rng(0)
    terms = rng.uniform(0, 1, 11)            # T = 10
    mse = rng.uniform(0, 0.1, 10)
    rd = E.rate_distortion(terms, mse)
    np.testing.assert_allclose(rd.rate_bpd + rd.remaining_bpd, terms.sum())
    assert rd.rate_bpd[-1] == pytest.approx(terms[-1])          # x_T known: only L_T sent
    assert rd.remaining_bpd[0] == pytest.approx(terms[0])       # x_1 known: L_0 left
    assert np.all(np.diff(rd.rate_bpd) <= 0)
    np.testing.assert_allclose(rd.rmse, 127.5 * np.sqrt(mse))


def test_loss_weights_follow_kingma_and_gao(schedule):
    lw = E.loss_weights(schedule)
    w = lw.weights
    e = np.exp(-lw.log_snr)
    np.testing.assert_allclose(w["v"], w["l_simple"] + w["x0"], rtol=1e-12)
    np.testing.assert_allclose(w["x0"], w["l_simple"] * e, rtol=1e-12)
    np.testing.assert_allclose(w["flow_matching"], np.exp(-0.5 * lw.log_snr))
    # p(lambda) is a density of the uniform t: 2 p integrates to 2 (1 - 1/T) over the range
    order = np.argsort(lw.log_snr)
    lam, ws = lw.log_snr[order], w["l_simple"][order]
    area = np.sum(0.5 * (ws[1:] + ws[:-1]) * np.diff(lam))
    assert area == pytest.approx(2.0 * (1 - 1 / schedule.T), rel=2e-3)
    for name in E.OBJECTIVES:
        wn = lw.normalised[name][order]
        assert np.sum(0.5 * (wn[1:] + wn[:-1]) * np.diff(lam)) == pytest.approx(1.0)
    # the discrete ELBO weight of eq. 12 is 1/2 of the lambda step: w_t ~ (lambda_{t-1} -
    # lambda_t) / 2 for small steps, i.e. the ELBO weights every log-SNR equally
    w_small, _ = E.eps_weights(schedule, "small")
    dlam = -np.diff(lw.log_snr)
    np.testing.assert_allclose(w_small[1:], 0.5 * np.expm1(dlam), rtol=1e-9)
