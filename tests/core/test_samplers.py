"""Samplers: exact denoisers, Gaussian moments, eq.-by-eq. transcriptions, timestep tables.

Two data distributions have exact noise predictors:
- a single point x*: eps(x, t) = (x - sqrt(ab_t) x*) / sqrt(1 - ab_t), so x0_pred = x* always;
- N(mu, s^2) per coordinate: eps(x, t) = sqrt(1 - ab_t) (x - sqrt(ab_t) mu) / (ab_t s^2 + 1 - ab_t),
  the regression E[eps | x_t] of eps on x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps.
Sample moments are compared with Z standard errors (mean: s / sqrt(N); variance:
s^2 sqrt(2 / (N - 1))).  The settings are chosen where each sampler's own discretisation bias is
well under one standard error.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffview.core.samplers import (
    SAMPLERS,
    DDIMSampler,
    DDPMSampler,
    DPMSolverPP2MSampler,
    Frame,
    StepOutput,
    make_sampler,
    make_timesteps,
    sample,
    sample_iter,
)
from diffview.core.schedules import make_schedule

SCHED = make_schedule("linear", T=1000)
AB = SCHED.alpha_bars
Z = 5.5


def point_denoiser(x_star):
    def denoise(x, t):
        ab = AB[t].reshape((-1,) + (1,) * (x.ndim - 1))
        return ((x - np.sqrt(ab) * x_star) / np.sqrt(1 - ab)).astype(x.dtype)
    return denoise


def gaussian_denoiser(mu, s2):
    def denoise(x, t):
        ab = AB[t].reshape((-1,) + (1,) * (x.ndim - 1))
        return (np.sqrt(1 - ab) * (x - np.sqrt(ab) * mu) / (ab * s2 + 1 - ab)).astype(x.dtype)
    return denoise


def wobbly_denoiser(x, t):
    """Not any real model: a smooth, t-dependent map, to exercise every coefficient."""
    return (0.3 * x + 0.2 * np.sin(t / 100.0).reshape((-1,) + (1,) * (x.ndim - 1))
            + 0.1 * np.cos(3 * x)).astype(x.dtype)


# ---------------------------------------------------------------------------------------------
# timestep tables


def test_timestep_tables_T1000_n10():  # noqa: N802
    np.testing.assert_array_equal(make_timesteps(1000, 10, "leading"),
                                  [900, 800, 700, 600, 500, 400, 300, 200, 100, 0])
    np.testing.assert_array_equal(make_timesteps(1000, 10, "trailing"),
                                  [999, 899, 799, 699, 599, 499, 399, 299, 199, 99])
    np.testing.assert_array_equal(make_timesteps(1000, 10, "linspace"),
                                  [999, 888, 777, 666, 555, 444, 333, 222, 111, 0])
    assert make_timesteps(1000, 10).dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 5000), frac=st.floats(0, 1), spacing=st.sampled_from(
    ["leading", "trailing", "linspace"]))
def test_timesteps_are_n_distinct_descending_indices(T, frac, spacing):  # noqa: N803
    n = 1 + int(frac * (T - 1))
    ts = make_timesteps(T, n, spacing)
    assert ts.size == n
    assert np.all(np.diff(ts) < 0)
    assert ts[-1] >= 0 and ts[0] <= T - 1
    if spacing == "trailing":
        assert ts[0] == T - 1
        # diffusers' float arange (its length can round up to n + 1: the extra value is dropped)
        ref = np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
        assert ref.size in (n, n + 1)
        np.testing.assert_array_equal(ts, ref[:n])
        # and the exact values T - k T / n agree up to the float rounding of arange
        exact = np.round(T - np.arange(n) * T / n).astype(np.int64) - 1
        assert np.max(np.abs(ts - exact)) <= 1
    elif spacing == "leading":
        np.testing.assert_array_equal(ts, (np.arange(n) * (T // n))[::-1])
    else:
        assert ts[-1] == 0 and ts[0] == (T - 1 if n > 1 else 0)


def test_full_tables():
    for spacing in ("leading", "trailing", "linspace"):
        np.testing.assert_array_equal(make_timesteps(1000, 1000, spacing), np.arange(1000)[::-1])


# ---------------------------------------------------------------------------------------------
# (a) a single data point is recovered exactly


def _all_deterministic():
    out = []
    for spacing in ("leading", "trailing", "linspace"):
        for n in (1, 7, 50):
            out.append(DDIMSampler(SCHED, n, eta=0.0, spacing=spacing))
            out.append(DPMSolverPP2MSampler(SCHED, n, spacing=spacing))
    return out


@pytest.mark.parametrize("sampler", _all_deterministic(), ids=repr)
def test_point_data_is_recovered_exactly(sampler):
    rng = np.random.default_rng(0)
    x_star = rng.uniform(-1, 1, (1, 2, 3, 3))
    x_T = rng.standard_normal((4, 2, 3, 3))  # noqa: N806
    denoise = point_denoiser(x_star)
    ts = sampler.timesteps
    # float64 run: exact up to rounding
    frames = list(sample_iter(sampler, denoise, x_T, rng))
    assert len(frames) == ts.size
    eps_T = denoise(x_T, np.full(4, ts[0]))  # noqa: N806
    for f in frames:
        # rounding of x and eps (~1e-16) is amplified by 1/sqrt(ab) in x0_pred
        tol = 1e-13 / math.sqrt(AB[f.t_index])
        np.testing.assert_allclose(f.x0_pred, np.broadcast_to(x_star, f.x.shape), atol=tol)
        # along the deterministic path the noise component (x - sqrt(ab) x*) / sqrt(1 - ab) is
        # conserved: DDIM(eta=0) and DPM-Solver++ both move on the straight line of eq. 4
        if f.index + 1 < ts.size:
            t_next = np.full(4, ts[f.index + 1])
            np.testing.assert_allclose(denoise(f.x, t_next), eps_T,
                                       atol=1e-13 / math.sqrt(1 - AB[t_next[0]]))
    np.testing.assert_allclose(frames[-1].x, np.broadcast_to(x_star, x_T.shape),
                               atol=1e-13 / math.sqrt(AB[ts[-1]]))
    # float32 run: float32 out, and x* to float32 precision (relative rounding 6e-8 of values
    # of size <= 4, amplified by 1/sqrt(ab) of the last step's timestep)
    x32 = sample(sampler, point_denoiser(x_star.astype(np.float32)), x_T.astype(np.float32), rng)
    assert x32.dtype == np.float32
    np.testing.assert_allclose(x32, np.broadcast_to(x_star, x_T.shape),
                               atol=4 * 4 * 6e-8 / math.sqrt(AB[ts[-1]]))


# ---------------------------------------------------------------------------------------------
# (b) Gaussian data: right mean and variance


GAUSS_CASES = [
    ("ddpm beta", lambda: DDPMSampler(SCHED, variance="beta")),
    ("ddpm posterior", lambda: DDPMSampler(SCHED, variance="posterior")),
    ("ddim eta=0", lambda: DDIMSampler(SCHED, 500, eta=0.0, spacing="trailing")),
    ("ddim eta=1", lambda: DDIMSampler(SCHED, 1000, eta=1.0)),
    ("dpm++2m", lambda: DPMSolverPP2MSampler(SCHED, 50)),
]


@pytest.mark.parametrize("name, build", GAUSS_CASES, ids=[c[0] for c in GAUSS_CASES])
def test_gaussian_data_moments(name, build):
    n = 4000
    mu = np.array([0.5, -1.0], dtype=np.float32)
    s = np.array([1.0, 0.5])
    rng = np.random.default_rng(sum(map(ord, name)))
    x_T = rng.standard_normal((n, 2)).astype(np.float32)  # noqa: N806
    x = sample(build(), gaussian_denoiser(mu, (s ** 2).astype(np.float32)), x_T, rng)
    assert x.dtype == np.float32 and x.shape == (n, 2)
    se_mean = s / math.sqrt(n)
    se_var = s ** 2 * math.sqrt(2 / (n - 1))
    assert np.all(np.abs(x.mean(axis=0) - mu) < Z * se_mean), x.mean(axis=0)
    assert np.all(np.abs(x.var(axis=0, ddof=1) - s ** 2) < Z * se_var), x.var(axis=0, ddof=1)


def test_gaussian_moment_check_detects_a_wrong_variance():
    # a variance too small by a factor 0.8 (here: the wrong data variance) must be detected
    n = 4000
    rng = np.random.default_rng(5)
    x_T = rng.standard_normal((n, 2)).astype(np.float32)  # noqa: N806
    x = sample(DPMSolverPP2MSampler(SCHED, 50), gaussian_denoiser(0.0, np.float32(0.8)), x_T, rng)
    assert np.all(np.abs(x.var(axis=0, ddof=1) - 1.0) > Z * math.sqrt(2 / (n - 1)))


# ---------------------------------------------------------------------------------------------
# (c) DDIM with eta = 1 on all timesteps is DDPM with the posterior variance


def test_ddim_eta1_equals_ddpm_posterior():
    ddim = DDIMSampler(SCHED, 1000, eta=1.0)
    ddpm = DDPMSampler(SCHED, variance="posterior")
    np.testing.assert_array_equal(ddim.timesteps, ddpm.timesteps)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 5))
    eps = rng.standard_normal((3, 5))
    z = rng.standard_normal((3, 5))
    for i in (0, 1, 500, 998, 999):
        a = ddim.step(x, i, eps, z)
        b = ddpm.step(x, i, eps, z)
        np.testing.assert_allclose(a.prev, b.prev, rtol=1e-11, atol=1e-11)
        np.testing.assert_array_equal(a.x0_pred, b.x0_pred)
        assert ddim.needs_noise(i) == ddpm.needs_noise(i)
    # whole runs from the same seed
    x_T = rng.standard_normal((2, 1, 3, 3))  # noqa: N806
    ra = sample(ddim, wobbly_denoiser, x_T, np.random.default_rng(7))
    rb = sample(ddpm, wobbly_denoiser, x_T, np.random.default_rng(7))
    np.testing.assert_allclose(ra, rb, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# (d) each step against a plain transcription of the paper


@pytest.mark.parametrize("variance", ["beta", "posterior"])
@pytest.mark.parametrize("i", [0, 1, 500, 998, 999])
def test_ddpm_step_is_algorithm_2(variance, i):
    smp = DDPMSampler(SCHED, variance=variance)
    t = 999 - i
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    eps = rng.standard_normal((2, 6)).astype(np.float32)
    z = rng.standard_normal((2, 6)).astype(np.float32)
    beta = SCHED.betas[t]
    alpha = 1 - beta
    ab = np.prod(1 - SCHED.betas[: t + 1])
    ab_prev = ab / alpha
    sigma2 = beta if variance == "beta" else (1 - ab_prev) / (1 - ab) * beta
    x64, e64 = x.astype(np.float64), eps.astype(np.float64)
    expected = 1 / math.sqrt(alpha) * (x64 - (1 - alpha) / math.sqrt(1 - ab) * e64)
    if t > 0:  # Algorithm 2: z = 0 at t = 1
        expected = expected + math.sqrt(sigma2) * z
    out = smp.step(x, i, eps, z)
    assert isinstance(out, StepOutput) and out.prev.dtype == np.float32
    np.testing.assert_allclose(out.prev, expected, rtol=1e-5, atol=1e-5 / math.sqrt(alpha))
    x0 = (x64 - math.sqrt(1 - ab) * e64) / math.sqrt(ab)
    np.testing.assert_allclose(out.x0_pred, x0, rtol=1e-5, atol=1e-6 / math.sqrt(ab))


@pytest.mark.parametrize("i", [0, 300, 999])
def test_ddpm_clipped_step_uses_posterior_mean(i):
    smp = DDPMSampler(SCHED, variance="beta", clip_x0=True)
    t = 999 - i
    rng = np.random.default_rng(9)
    x = 3 * rng.standard_normal((4, 4))
    eps = rng.standard_normal((4, 4))
    z = rng.standard_normal((4, 4))
    ab = np.prod(1 - SCHED.betas[: t + 1])
    beta = SCHED.betas[t]
    ab_prev = ab / (1 - beta)
    x0 = np.clip((x - math.sqrt(1 - ab) * eps) / math.sqrt(ab), -1, 1)
    mean = (math.sqrt(ab_prev) * beta / (1 - ab) * x0
            + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * x)
    expected = mean + (math.sqrt(beta) * z if t > 0 else 0.0)
    out = smp.step(x, i, eps, z)
    np.testing.assert_allclose(out.x0_pred, x0, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.prev, expected, rtol=1e-9, atol=1e-12)


def _ddim_eq12(x, eps, ab, ab_prev, eta, z, clip):
    x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    if clip:
        x0 = np.clip(x0, -1, 1)
        eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab)) * math.sqrt(1 - ab / ab_prev)
    return (math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sigma ** 2) * eps
            + sigma * z), x0


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_ddim_step_is_eq12(eta, clip, spacing):
    smp = DDIMSampler(SCHED, 10, eta=eta, spacing=spacing, clip_x0=clip or None)
    ts = smp.timesteps
    rng = np.random.default_rng(10)
    for i in range(10):
        x = 2 * rng.standard_normal((3, 4))
        eps = rng.standard_normal((3, 4))
        z = rng.standard_normal((3, 4))
        ab_prev = AB[ts[i + 1]] if i + 1 < 10 else 1.0  # the step after the last: clean image
        expected, x0 = _ddim_eq12(x, eps, AB[ts[i]], ab_prev, eta, z, clip)
        out = smp.step(x, i, eps, z if smp.needs_noise(i) else None)
        np.testing.assert_allclose(out.prev, expected, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(out.x0_pred, x0, rtol=1e-9, atol=1e-10)
    assert not smp.needs_noise(9)
    assert smp.needs_noise(0) == (eta > 0)


def _dpmpp_2m_reference(x, ts, denoise):
    """Lu et al. 2022, Algorithm 2, written out with lambda = log(alpha / sigma)."""
    alpha = lambda t: math.sqrt(AB[t])  # noqa: E731
    sigma = lambda t: math.sqrt(1 - AB[t])  # noqa: E731
    lam = lambda t: math.log(alpha(t) / sigma(t))  # noqa: E731
    outs, x0_prev = [], None
    for k, t in enumerate(ts):
        eps = denoise(x, np.full(x.shape[0], t))
        x0 = (x - sigma(t) * eps) / alpha(t)
        if k == len(ts) - 1:
            x = x0  # sigma_next = 0
        else:
            s = ts[k + 1]
            h = lam(s) - lam(t)
            if k == 0:
                d = x0
            else:
                r = (lam(t) - lam(ts[k - 1])) / h
                d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev
            x = sigma(s) / sigma(t) * x - alpha(s) * (math.exp(-h) - 1) * d
        x0_prev = x0
        outs.append(x)
    return outs


@pytest.mark.parametrize("spacing, n", [("trailing", 10), ("linspace", 5), ("leading", 25)])
def test_dpmpp_2m_is_algorithm_2(spacing, n):
    smp = DPMSolverPP2MSampler(SCHED, n, spacing=spacing)
    x_T = np.random.default_rng(11).standard_normal((2, 3))  # noqa: N806
    ref = _dpmpp_2m_reference(x_T.copy(), smp.timesteps, wobbly_denoiser)
    frames = list(sample_iter(smp, wobbly_denoiser, x_T, np.random.default_rng(0)))
    assert len(frames) == len(ref)
    for f, r in zip(frames, ref, strict=True):
        np.testing.assert_allclose(f.x, r, rtol=1e-9, atol=1e-9)
    # the final sample is the last x0 prediction
    np.testing.assert_array_equal(frames[-1].x, frames[-1].x0_pred)


def test_dpmpp_starts_first_order_after_reset_or_a_jump():
    smp = DPMSolverPP2MSampler(SCHED, 10)
    ts = smp.timesteps
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3))
    eps = rng.standard_normal((2, 3))
    smp.step(x, 3, eps)
    a = smp.step(x, 5, eps).prev  # not consecutive: must be first order
    smp.reset()
    b = smp.step(x, 5, eps).prev
    np.testing.assert_array_equal(a, b)
    ab, ab_n = AB[ts[5]], AB[ts[6]]
    h = math.log(math.sqrt(ab_n / (1 - ab_n))) - math.log(math.sqrt(ab / (1 - ab)))
    x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    first = math.sqrt((1 - ab_n) / (1 - ab)) * x - math.sqrt(ab_n) * (math.exp(-h) - 1) * x0
    np.testing.assert_allclose(b, first, rtol=1e-10)
    c = smp.step(x, 6, eps).prev  # consecutive: second order differs from first order
    smp.reset()
    assert not np.allclose(c, smp.step(x, 6, eps).prev)


# ---------------------------------------------------------------------------------------------
# driving: frames, start_index, dtypes, make_sampler


def test_sample_iter_frames_and_start_index():
    smp = DDIMSampler(SCHED, 10)  # 900, 800, ..., 0
    x_T = np.zeros((2, 1, 2, 2), dtype=np.float32)  # noqa: N806
    seen = []

    def denoise(x, t):
        assert x.dtype == np.float32 and t.dtype == np.int64 and t.shape == (2,)
        seen.append(int(t[0]))
        return np.zeros_like(x)

    frames = list(sample_iter(smp, denoise, x_T, np.random.default_rng(0)))
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(10))
    assert [f.t_index for f in frames] == seen == list(range(900, -1, -100))
    assert {f.n_total for f in frames} == {10}
    seen.clear()
    frames = list(sample_iter(smp, denoise, x_T, np.random.default_rng(0), start_index=450))
    assert seen == [400, 300, 200, 100, 0] and frames[0].index == 5
    seen.clear()
    list(sample_iter(smp, denoise, x_T, np.random.default_rng(0), start_index=400))
    assert seen[0] == 400
    # below every entry of a trailing table: only the last step runs
    seen.clear()
    list(sample_iter(DDIMSampler(SCHED, 10, spacing="trailing"), denoise, x_T,
                     np.random.default_rng(0), start_index=50))
    assert seen == [99]
    assert smp.nfe == len(smp) == 10 and DDPMSampler(SCHED).nfe == 1000


def test_same_seed_same_run_and_input_untouched():
    x_T = np.random.default_rng(13).standard_normal((2, 4)).astype(np.float32)  # noqa: N806
    keep = x_T.copy()
    smp = DDIMSampler(SCHED, 20, eta=0.7)
    a = sample(smp, wobbly_denoiser, x_T, np.random.default_rng(1))
    b = sample(smp, wobbly_denoiser, x_T, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x_T, keep)


def test_respaced_ddpm_posterior_equals_ddim_eta1():
    # Nichol and Dhariwal's respacing with the posterior variance is DDIM with eta = 1
    a = DDPMSampler(SCHED, variance="posterior", n_steps=20, spacing="trailing")
    b = DDIMSampler(SCHED, 20, eta=1.0, spacing="trailing")
    x_T = np.random.default_rng(14).standard_normal((3, 2))  # noqa: N806
    np.testing.assert_allclose(sample(a, wobbly_denoiser, x_T, np.random.default_rng(2)),
                               sample(b, wobbly_denoiser, x_T, np.random.default_rng(2)),
                               rtol=1e-9, atol=1e-9)


def test_make_sampler():
    assert SAMPLERS == ("ddpm", "ddim", "dpm++2m")
    assert isinstance(make_sampler("ddpm", SCHED), DDPMSampler)
    d = make_sampler("ddim", SCHED, n_steps=25, eta=0.3, spacing="linspace")
    assert isinstance(d, DDIMSampler) and d.eta == 0.3 and d.timesteps.size == 25
    assert d.timesteps[0] == 999
    p = make_sampler("dpm++2m", SCHED, n_steps=15)
    assert isinstance(p, DPMSolverPP2MSampler) and p.timesteps[0] == 999 and p.nfe == 15
    assert make_sampler("ddpm", SCHED, variance="posterior").variance == "posterior"
    assert {s.name for s in (make_sampler(n, SCHED) for n in SAMPLERS)} == set(SAMPLERS)


# ---------------------------------------------------------------------------------------------
# (f) bad arguments


def test_bad_arguments():
    for n in (0, 1001, 2.0, True):
        with pytest.raises(ValueError, match="n_steps"):
            make_timesteps(1000, n)
    with pytest.raises(ValueError, match="T"):
        make_timesteps(0, 1)
    with pytest.raises(ValueError, match="spacing"):
        make_timesteps(1000, 10, "uniform")
    for eta in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="eta"):
            DDIMSampler(SCHED, 10, eta=eta)
    with pytest.raises(ValueError, match="variance"):
        DDPMSampler(SCHED, variance="learned")
    with pytest.raises(ValueError, match="clip_x0"):
        DDIMSampler(SCHED, 10, clip_x0=-1.0)
    with pytest.raises(ValueError, match="schedule"):
        DPMSolverPP2MSampler("linear", 10)
    with pytest.raises(ValueError, match="name"):
        make_sampler("euler", SCHED)
    smp = DDPMSampler(SCHED)
    x = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="noise"):
        smp.step(x, 0, x)
    with pytest.raises(ValueError, match="eps"):
        smp.step(x, 999, np.zeros((3, 2)))
    for i in (-1, 1000):
        with pytest.raises(ValueError, match="i must"):
            smp.step(x, i, x, x)
    with pytest.raises(ValueError, match="start_index"):
        next(sample_iter(smp, wobbly_denoiser, x, np.random.default_rng(0), start_index=1000))
    with pytest.raises(ValueError, match="denoise"):
        next(sample_iter(smp, lambda x, t: np.zeros(3), x, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="x_T"):
        next(sample_iter(smp, wobbly_denoiser, np.zeros((2, 3), dtype=int),
                         np.random.default_rng(0)))
