"""Forward process: closed form vs Markov chain, posterior, eps <-> x0, cold-diffusion degradations.

Statistical tests use fixed seeds and tolerances from standard errors: the mean of N normal draws
has standard error sigma / sqrt(N), the sample variance sigma^2 sqrt(2 / (N - 1)); the two-sample
Kolmogorov-Smirnov statistic is compared with c(a) sqrt(2 / N), c(a) = sqrt(-ln(a / 2) / 2).
"""

import math

import numpy as np
import pytest

from diffview.core import forward as F
from diffview.core.schedules import make_schedule

SCHED = make_schedule("linear", T=1000)
Z = 5.5  # standard errors allowed in moment checks


def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b|, computed on the pooled sample."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def ks_critical(n, m, alpha=1e-6):
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


# ---------------------------------------------------------------------------------------------
# q(x_t | x_0)


@pytest.mark.parametrize("t", [0, 1, 99, 500, 999])
def test_q_sample_is_eq4(t):
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-1, 1, (2, 1, 5, 4)).astype(np.float32)
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    ab = np.prod(1.0 - SCHED.betas[: t + 1])  # alpha_bar from the betas, not the table
    expected = math.sqrt(ab) * x0.astype(np.float64) + math.sqrt(1 - ab) * eps
    xt = F.q_sample(x0, SCHED, t, eps)
    assert xt.dtype == np.float32 and xt.shape == x0.shape
    np.testing.assert_allclose(xt, expected, rtol=1e-6, atol=1e-6)
    mean_coef, std = F.q_mean_std(SCHED, t)
    assert mean_coef == pytest.approx(math.sqrt(ab), rel=1e-10)
    assert std == pytest.approx(math.sqrt(1 - ab), rel=1e-10)


def test_q_sample_per_batch_index_matches_scalar_calls():
    rng = np.random.default_rng(2)
    x0 = rng.uniform(-1, 1, (4, 3, 6, 6)).astype(np.float32)
    eps = rng.standard_normal(x0.shape, dtype=np.float32)
    ts = np.array([0, 10, 500, 999])
    xt = F.q_sample(x0, SCHED, ts, eps)
    assert xt.dtype == np.float32
    for b, t in enumerate(ts):
        np.testing.assert_allclose(xt[b], F.q_sample(x0[b:b + 1], SCHED, int(t), eps[b:b + 1])[0],
                                   rtol=1e-6, atol=1e-7)
    m, s = F.q_mean_std(SCHED, ts)
    np.testing.assert_array_equal(m, SCHED.sqrt_alpha_bars[ts])
    np.testing.assert_array_equal(s, SCHED.sqrt_one_minus_alpha_bars[ts])


def test_q_sample_step_scrub_bar():
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-1, 1, (1, 28, 28)).astype(np.float32)
    eps = rng.standard_normal(x0.shape, dtype=np.float32)
    x = F.q_sample_step(x0, SCHED, 0, eps)
    np.testing.assert_array_equal(x, x0)
    assert x is not x0 and not np.shares_memory(x, x0)
    for step in (1, 250, 1000):
        x = F.q_sample_step(x0, SCHED, step, eps)
        assert x.dtype == np.float32
        np.testing.assert_allclose(x, F.q_sample(x0, SCHED, step - 1, eps), rtol=1e-6, atol=1e-6)
    out = np.empty_like(x0)
    res = F.q_sample_step(x0, SCHED, 400, eps, out=out)
    assert res is out
    np.testing.assert_allclose(out, F.q_sample(x0, SCHED, 399, eps), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="out"):
        F.q_sample_step(x0, SCHED, 400, eps, out=np.empty((1, 28, 28)))


def test_float64_stays_float64():
    x0 = np.linspace(-1, 1, 12).reshape(3, 4)
    eps = np.ones_like(x0)
    assert F.q_sample(x0, SCHED, 5, eps).dtype == np.float64
    assert F.q_sample_step(x0, SCHED, 5, eps).dtype == np.float64
    assert F.blur(x0, 0.5).dtype == np.float64
    assert F.pixelate(x0, 0.5).dtype == np.float64


@pytest.mark.parametrize("step", [1, 10, 100, 500, 1000])
def test_markov_chain_agrees_with_closed_form_in_distribution(step):
    n, c = 20_000, 0.8
    x0 = np.full(n, c, dtype=np.float32)
    *_, x = F.markov_chain(x0, SCHED, np.random.default_rng(10), n_steps=step)
    ab = SCHED.alpha_bars[step - 1]
    mean, var = math.sqrt(ab) * c, 1 - ab
    assert abs(x.mean() - mean) < Z * math.sqrt(var / n)
    assert abs(x.var(ddof=1) - var) < Z * var * math.sqrt(2 / (n - 1))
    closed = F.q_sample(x0, SCHED, step - 1, np.random.default_rng(11).standard_normal(n))
    assert ks_statistic(x, closed) < ks_critical(n, n)


def test_ks_check_detects_a_wrong_step():
    # the same comparison against the marginal of a different step must fail: the test has power
    n, c = 20_000, 0.8
    x0 = np.full(n, c, dtype=np.float32)
    x = F.chain_to_step(x0, SCHED, 100, np.random.default_rng(10).standard_normal((100, n)))
    wrong = F.q_sample(x0, SCHED, 79, np.random.default_rng(11).standard_normal(n))
    assert ks_statistic(x, wrong) > ks_critical(n, n)


def test_chain_to_step_reproduces_markov_chain():
    x0 = np.random.default_rng(4).uniform(-1, 1, (2, 1, 4, 4)).astype(np.float32)
    frames = list(F.markov_chain(x0, SCHED, np.random.default_rng(5), n_steps=30))
    assert len(frames) == 30 and all(f.dtype == np.float32 for f in frames)
    noise_rng = np.random.default_rng(5)
    noises = [noise_rng.standard_normal(x0.shape, dtype=np.float32) for _ in range(30)]
    for step in (1, 7, 30):
        np.testing.assert_array_equal(F.chain_to_step(x0, SCHED, step, noises), frames[step - 1])
    # first step by hand: x_1 = sqrt(1 - beta_1) x_0 + sqrt(beta_1) z_1
    b = SCHED.betas[0]
    np.testing.assert_allclose(frames[0], math.sqrt(1 - b) * x0 + math.sqrt(b) * noises[0],
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(F.chain_to_step(x0, SCHED, 0, []), x0)


# ---------------------------------------------------------------------------------------------
# posterior and conversions


@pytest.mark.parametrize("t", [0, 1, 300, 999])
def test_posterior_mean_variance_is_eq7(t):
    rng = np.random.default_rng(6)
    x0 = rng.uniform(-1, 1, (3, 8)).astype(np.float32)
    xt = rng.standard_normal((3, 8)).astype(np.float32)
    beta = SCHED.betas[t]
    ab = np.prod(1 - SCHED.betas[: t + 1])
    ab_prev = ab / (1 - beta)
    mu = (math.sqrt(ab_prev) * beta / (1 - ab) * x0.astype(np.float64)
          + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * xt)
    mean, var, log_var = F.posterior_mean_variance(x0, xt, SCHED, t)
    assert mean.dtype == np.float32
    np.testing.assert_allclose(mean, mu, rtol=2e-6, atol=2e-6)
    assert var == pytest.approx((1 - ab_prev) / (1 - ab) * beta, rel=1e-9, abs=1e-15)
    if t > 0:
        assert log_var == pytest.approx(math.log(var), rel=1e-9)
    else:
        assert var == pytest.approx(0.0, abs=1e-15)
        assert log_var == SCHED.posterior_log_variance_clipped[1]


def test_posterior_with_index_array():
    rng = np.random.default_rng(7)
    x0 = rng.uniform(-1, 1, (3, 2, 4)).astype(np.float32)
    xt = rng.standard_normal((3, 2, 4)).astype(np.float32)
    ts = np.array([5, 0, 999])
    mean, var, log_var = F.posterior_mean_variance(x0, xt, SCHED, ts)
    assert var.shape == (3, 1, 1) and log_var.shape == (3, 1, 1)
    for b, t in enumerate(ts):
        m_b, v_b, lv_b = F.posterior_mean_variance(x0[b:b + 1], xt[b:b + 1], SCHED, int(t))
        np.testing.assert_allclose(mean[b], m_b[0], rtol=1e-6, atol=1e-7)
        assert var[b, 0, 0] == v_b and log_var[b, 0, 0] == lv_b


@pytest.mark.parametrize("t", [0, 100, 999])
def test_eps_x0_round_trip(t):
    rng = np.random.default_rng(8)
    x0 = rng.uniform(-1, 1, (2, 16))
    eps = rng.standard_normal((2, 16))
    xt = F.q_sample(x0, SCHED, t, eps)
    # float64: exact up to rounding amplified by 1/sqrt(alpha_bar)
    tol = 1e-13 / SCHED.sqrt_alpha_bars[t]
    np.testing.assert_allclose(F.predict_x0_from_eps(xt, t, eps, SCHED), x0, atol=tol)
    np.testing.assert_allclose(F.predict_eps_from_x0(xt, t, x0, SCHED), eps, atol=1e-12)
    # both directions compose to the identity
    x0_back = F.predict_x0_from_eps(xt, t, F.predict_eps_from_x0(xt, t, x0, SCHED), SCHED)
    np.testing.assert_allclose(x0_back, x0, atol=tol)
    # float32 in, float32 out, and the per-batch form agrees
    ts = np.array([t, t])
    x32 = F.predict_x0_from_eps(xt.astype(np.float32), ts, eps.astype(np.float32), SCHED)
    assert x32.dtype == np.float32
    np.testing.assert_allclose(x32, x0, atol=1e-6 / SCHED.sqrt_alpha_bars[t])


# ---------------------------------------------------------------------------------------------
# argument checks


def test_bad_arguments():
    x0 = np.zeros((2, 3), dtype=np.float32)
    eps = np.zeros((2, 3), dtype=np.float32)
    for t in (-1, 1000, 2.5, np.array([1, 2, 3]), np.array([[1, 2]]), np.array([0, 1000])):
        with pytest.raises(ValueError, match="t_index"):
            F.q_sample(x0, SCHED, t, eps)
    with pytest.raises(ValueError, match="noise"):
        F.q_sample(x0, SCHED, 3, np.zeros((3, 2)))
    for step in (-1, 1001, 1.0, True):
        with pytest.raises(ValueError, match="step"):
            F.q_sample_step(x0, SCHED, step, eps)
    for n in (0, 1001):
        with pytest.raises(ValueError, match="n_steps"):
            next(F.markov_chain(x0, SCHED, np.random.default_rng(0), n_steps=n))
    with pytest.raises(ValueError, match="noises"):
        F.chain_to_step(x0, SCHED, 3, [eps, eps])
    with pytest.raises(ValueError, match="x_t"):
        F.posterior_mean_variance(x0, np.zeros(3), SCHED, 4)
    with pytest.raises(ValueError, match="eps"):
        F.predict_x0_from_eps(x0, 4, np.zeros(3), SCHED)
    with pytest.raises(ValueError, match="x0"):
        F.q_sample(np.array(["a"]), SCHED, 1, np.zeros(1))


# ---------------------------------------------------------------------------------------------
# cold diffusion: blur


def _blur_reference(x, sigma):
    """Direct 2-D convolution of the reflect-padded image with the outer-product kernel."""
    r = max(1, math.ceil(4 * sigma))
    k = np.arange(-r, r + 1)
    w = np.exp(-k ** 2 / (2 * sigma ** 2))
    w2 = np.outer(w, w) / w.sum() ** 2
    h, wd = x.shape[-2:]
    pad = [(0, 0)] * (x.ndim - 2) + [(r, r), (r, r)]
    p = np.pad(x.astype(np.float64), pad, mode="reflect")
    out = np.zeros(x.shape)
    for i in range(2 * r + 1):
        for j in range(2 * r + 1):
            out += w2[i, j] * p[..., i:i + h, j:j + wd]
    return out


@pytest.mark.parametrize("max_sigma, severity", [(2.0, 0.5), (2.0, 1.0), (12.0, 0.75)])
def test_blur_matches_direct_2d_convolution(max_sigma, severity):
    # sigma 1 and 2 take the shifted-sum path, sigma 9 the dense-matrix path (radius > image)
    x = np.random.default_rng(9).uniform(-1, 1, (2, 3, 12, 10)).astype(np.float32)
    got = F.blur(x, severity, max_sigma=max_sigma)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, _blur_reference(x, severity * max_sigma), atol=2e-6)


def test_blur_identity_constant_and_width():
    x = np.random.default_rng(10).uniform(-1, 1, (1, 8, 8)).astype(np.float32)
    same = F.blur(x, 0.0)
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)
    const = np.full((3, 9, 7), 0.3, dtype=np.float32)
    for sev in (0.2, 1.0):  # both code paths keep a flat field flat
        np.testing.assert_allclose(F.blur(const, sev, max_sigma=20.0), 0.3, rtol=1e-5)
    # the impulse response of a centred delta is the kernel: its variance is sigma^2 per axis
    delta = np.zeros((65, 65))
    delta[32, 32] = 1.0
    k = np.arange(65) - 32
    widths = []
    for sev in (0.25, 0.5, 1.0):
        img = F.blur(delta, sev, max_sigma=4.0)
        assert img.sum() == pytest.approx(1.0, rel=1e-12)
        var_x = float((img.sum(axis=0) * k ** 2).sum())
        var_y = float((img.sum(axis=1) * k ** 2).sum())
        sigma = F.blur_sigma(sev, delta.shape, max_sigma=4.0)
        assert sigma == pytest.approx(4.0 * sev)
        assert var_x == pytest.approx(sigma ** 2, rel=1e-3)
        assert var_y == pytest.approx(sigma ** 2, rel=1e-3)
        widths.append(var_x)
    assert widths == sorted(widths)
    # default max_sigma: a quarter of the short side
    assert F.blur_sigma(1.0, (3, 28, 40)) == pytest.approx(7.0)


# ---------------------------------------------------------------------------------------------
# cold diffusion: mask


def test_mask_order_is_a_seeded_permutation():
    o1 = F.mask_order((3, 6, 5), np.random.default_rng(0))
    o2 = F.mask_order((6, 5), np.random.default_rng(0))
    assert o1.dtype == np.int64
    np.testing.assert_array_equal(np.sort(o1), np.arange(30))
    np.testing.assert_array_equal(o1, o2)


def test_mask_counts_subsets_and_channels():
    rng = np.random.default_rng(11)
    x = rng.uniform(0.5, 1.0, (2, 3, 6, 5)).astype(np.float32)  # no pixel equals the fill
    order = F.mask_order(x.shape, rng)
    prev = np.zeros((6, 5), dtype=bool)
    for sev in (0.0, 0.1, 0.33, 0.5, 0.9, 1.0):
        m = F.mask(x, sev, order, fill=-1.0)
        assert m.dtype == np.float32
        masked = m == -1.0
        # the same pixels in every batch element and channel
        assert np.all(masked == masked[0, 0])
        masked = masked[0, 0]
        assert masked.sum() == round(sev * 30)
        # exactly the first pixels of the order
        np.testing.assert_array_equal(np.flatnonzero(masked.ravel()),
                                      np.sort(order[: round(sev * 30)]))
        assert np.all(prev <= masked)  # monotone: earlier masks are subsets
        np.testing.assert_array_equal(m[..., ~masked], x[..., ~masked])
        prev = masked
    np.testing.assert_array_equal(F.mask(x, 0.0, order), x)


# ---------------------------------------------------------------------------------------------
# cold diffusion: pixelate


def test_pixelate_block_means():
    x = np.random.default_rng(12).uniform(-1, 1, (2, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(F.pixelate(x, 0.0), x)
    sizes = [F.pixelate_block(s, x.shape) for s in np.linspace(0, 1, 23)]
    assert sizes[0] == 1 and sizes[-1] == 12 and sizes == sorted(sizes)
    sev = 3 / 11  # block 4: divides 12
    assert F.pixelate_block(sev, x.shape) == 4
    p = F.pixelate(x, sev)
    means = x.astype(np.float64).reshape(2, 3, 4, 3, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(p, np.repeat(np.repeat(means, 4, axis=1), 4, axis=2), atol=1e-6)
    np.testing.assert_allclose(F.pixelate(x, 1.0), x.mean(axis=(1, 2), keepdims=True)
                               * np.ones_like(x), atol=1e-6)


def test_pixelate_partial_edge_blocks():
    x = np.arange(7 * 5, dtype=np.float64).reshape(7, 5)
    sev = 2 / 4  # block 1 + round(0.5 * 4) = 3
    p = F.pixelate(x, sev)
    for r0 in (0, 3, 6):
        for c0 in (0, 3):
            block = x[r0:r0 + 3, c0:c0 + 3]
            np.testing.assert_allclose(p[r0:r0 + 3, c0:c0 + 3], block.mean())


def test_degrade_dispatch_and_bad_arguments():
    rng = np.random.default_rng(13)
    x = rng.uniform(-1, 1, (1, 8, 8)).astype(np.float32)
    order = F.mask_order(x.shape, rng)
    np.testing.assert_array_equal(F.degrade("blur", x, 5, 10), F.blur(x, 0.5))
    np.testing.assert_array_equal(F.degrade("pixelate", x, 5, 10), F.pixelate(x, 0.5))
    np.testing.assert_array_equal(F.degrade("mask", x, 5, 10, order), F.mask(x, 0.5, order))
    assert F.DEGRADATIONS == ("blur", "mask", "pixelate")
    with pytest.raises(ValueError, match="kind"):
        F.degrade("noise", x, 1, 10)
    with pytest.raises(ValueError, match="step"):
        F.degrade("blur", x, 11, 10)
    with pytest.raises(ValueError, match="T"):
        F.degrade("blur", x, 0, 0)
    with pytest.raises(ValueError, match="order"):
        F.degrade("mask", x, 1, 10)
    with pytest.raises(ValueError, match="order"):
        F.mask(x, 0.5, order[:-1])
    for fn in (F.blur, F.pixelate):
        for sev in (-0.1, 1.5, float("nan")):
            with pytest.raises(ValueError, match="severity"):
                fn(x, sev)
        with pytest.raises(ValueError, match="x0"):
            fn(np.zeros(5), 0.5)
    with pytest.raises(ValueError, match="max_sigma"):
        F.blur(x, 0.5, max_sigma=-1.0)
    with pytest.raises(ValueError, match="shape"):
        F.mask_order((5,), rng)
