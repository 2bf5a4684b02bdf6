"""Radial power spectra, PCA and inpainting (core, numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from diffview.core.forward import blur
from diffview.core.inpaint import inpaint_iter
from diffview.core.pca import fit_pca
from diffview.core.samplers import make_sampler
from diffview.core.schedules import make_schedule
from diffview.core.spectral import power_2d, radial_spectrum

# ---------------------------------------------------------------------------------- spectra


def test_parseval_power_sums_to_the_sum_of_squares():
    x = np.random.default_rng(0).normal(size=(3, 2, 12, 17))
    p = power_2d(x)
    np.testing.assert_allclose(p.sum(axis=(-2, -1)), (x ** 2).sum(axis=(-2, -1)), rtol=1e-12)


def test_white_noise_has_a_flat_spectrum_at_its_variance():
    # 400 images of 32 x 32, variance 4: each 2-D power value has mean s^2 and sd at most
    # sqrt(2) s^2 (chi^2 with 2 degrees of freedom / 2, or with 1 at the real Nyquist terms), so
    # a bin averaging n frequencies x 400 images has relative sd <= sqrt(2 / (400 n)):
    # 5 sd is 18 % for n >= 4 and 36 % for the single corner frequency.
    x = np.random.default_rng(1).normal(scale=2.0, size=(400, 1, 32, 32))
    s = radial_spectrum(x)
    filled = s.counts >= 4
    np.testing.assert_allclose(s.power[filled], 4.0, rtol=0.18)
    np.testing.assert_allclose(s.power, 4.0, rtol=0.36)
    slope = np.polyfit(np.log(s.freq), np.log(s.power), 1)[0]
    assert abs(slope) < 0.05


def test_a_blurred_image_has_a_falling_spectrum():
    # Gaussian blur multiplies the power by exp(-(2 pi sigma f)^2): with sigma = 2 px the
    # highest bins are > 1e4 times weaker than the lowest (noise input: flat before blurring).
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 1, 32, 32)).astype(np.float32)
    b = np.stack([blur(im, 1.0, max_sigma=2.0) for im in x])
    s = radial_spectrum(b)
    assert s.power[0] > 1e4 * s.power[-3]
    # monotone over the well-filled bins (radius <= 1/2), up to noise of ~2 %
    inner = s.power[s.freq <= 0.5]
    assert np.all(np.diff(inner) < 0.02 * inner[:-1])


def test_per_image_spectra_and_bad_input():
    x = np.random.default_rng(3).normal(size=(5, 1, 8, 8))
    s = radial_spectrum(x, per_image=True)
    assert s.power.shape == (5, s.freq.size)
    np.testing.assert_allclose(s.power.mean(axis=0), radial_spectrum(x).power)
    with pytest.raises(ValueError, match="shape"):
        radial_spectrum(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        radial_spectrum(np.full((4, 4), np.nan))


# -------------------------------------------------------------------------------------- PCA


@pytest.mark.parametrize("method", ["data", "covariance"])
def test_pca_matches_numpy_svd(method):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6)
    p = fit_pca(x, k=3, method=method)
    c = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(c, full_matrices=False)
    np.testing.assert_allclose(p.explained_variance, s[:3] ** 2 / 39, rtol=1e-10)
    np.testing.assert_allclose(np.abs(p.components @ vt[:3].T), np.eye(3), atol=1e-8)
    np.testing.assert_allclose(p.total_variance, np.var(x, axis=0, ddof=1).sum(), rtol=1e-10)
    scores = p.project(x)
    np.testing.assert_allclose(scores.var(axis=0, ddof=1), p.explained_variance, rtol=1e-10)
    full = fit_pca(x, method=method)
    np.testing.assert_allclose(full.reconstruct(full.project(x)), x, atol=1e-9)
    assert full.explained_ratio.sum() == pytest.approx(1.0)


def test_pca_refuses_bad_input():
    with pytest.raises(ValueError, match="two points"):
        fit_pca(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="k must"):
        fit_pca(np.zeros((4, 3)), k=5)


# --------------------------------------------------------------------------------- inpainting


@pytest.mark.parametrize("sampler_name,method,u", [("ddim", "replace", 1), ("ddpm", "replace", 1),
                                                   ("ddim", "repaint", 3)])
def test_known_pixels_follow_the_forward_marginal_at_every_step(sampler_name, method, u):
    # 4000 seeds (batch rows) of a 2 x 2 image, left column known. At every step the known
    # pixels must be N(sqrt(ab_s) x0, 1 - ab_s): mean within 5 standard errors, variance within
    # 5 standard errors of a normal sample variance (sd sqrt(2 / n) relative).
    schedule = make_schedule("linear", 100)
    n_steps = 10 if sampler_name == "ddim" else None
    sampler = make_sampler(sampler_name, schedule, n_steps=n_steps, eta=0.5 if
                           sampler_name == "ddim" else 0.0)
    n = 4000
    x0 = np.array([[[0.8, -0.3], [-0.6, 0.2]]], np.float32)
    mask = np.array([[[1, 0], [1, 0]]], np.float32)
    rng = np.random.default_rng(5)
    x_T = rng.standard_normal((n, 1, 2, 2), dtype=np.float32)  # noqa: N806

    def denoise(x, t):
        return 0.3 * x  # any network: the known region must not depend on it

    ts = sampler.timesteps
    ab = schedule.alpha_bars
    steps = 0
    for frame in inpaint_iter(sampler, denoise, x_T, rng, x0, mask, method, u):
        i = frame.index
        a_s = float(ab[ts[i + 1]]) if i + 1 < ts.size else 1.0
        known = frame.x[:, 0, :, 0]
        want_mean = np.sqrt(a_s) * x0[0, :, 0]
        var = 1.0 - a_s
        if var == 0.0:
            np.testing.assert_array_equal(known, np.broadcast_to(x0[0, :, 0], known.shape))
        else:
            np.testing.assert_allclose(known.mean(axis=0), want_mean,
                                       atol=5 * np.sqrt(var / n))
            np.testing.assert_allclose(known.var(axis=0, ddof=1), var,
                                       rtol=5 * np.sqrt(2 / n))
        steps += 1
    assert steps == ts.size


def test_repaint_refuses_a_multistep_solver():
    schedule = make_schedule("linear", 50)
    sampler = make_sampler("dpm++2m", schedule, n_steps=5)
    it = inpaint_iter(sampler, lambda x, t: x, np.zeros((1, 2)), np.random.default_rng(0),
                      np.zeros(2), np.ones(2), "repaint", 2)
    with pytest.raises(ValueError, match="ddpm or ddim"):
        next(it)
