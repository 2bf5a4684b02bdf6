"""AnalyticDenoiser: the exact epsilon of a Gaussian mixture, discrete and continuous time."""

import numpy as np
import pytest

from diffview.engine import Denoiser, ModelInfo
from diffview.engine.analytic import AnalyticDenoiser

mixtures = pytest.importorskip("diffview.core.mixtures")
schedules = pytest.importorskip("diffview.core.schedules")
sde_mod = pytest.importorskip("diffview.core.sde")

MU = np.array([1.5, -0.5])
COV = np.array([[0.5, 0.2], [0.2, 0.3]])


def gaussian():
    return mixtures.GaussianMixture([1.0], MU[None], COV[None])


def gaussian_eps(x, mean_coef, std):
    """eps* = s Sigma_t^{-1} (x - m mu) with Sigma_t = m^2 C + s^2 I, for one Gaussian."""
    sigma_t = mean_coef**2 * COV + std**2 * np.eye(2)
    return std * np.linalg.solve(sigma_t, (x - mean_coef * MU).T).T


@pytest.mark.parametrize("index", [0, 1, 250, 999])
def test_single_gaussian_discrete_matches_closed_form(rng, index):
    sched = schedules.make_schedule("linear", 1000)
    den = AnalyticDenoiser(gaussian(), schedule=sched)
    x = rng.standard_normal((6, 2)) * 2
    ab = sched.alpha_bars[index]  # index i is paper step i + 1: alpha_bar_{i+1} = alpha_bars[i]
    want = gaussian_eps(x, np.sqrt(ab), np.sqrt(1 - ab))
    got = den.predict_eps(x, index)
    assert got.dtype == np.float32 and got.shape == (6, 2)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("time", [1e-3, 0.3, 1.0])
def test_single_gaussian_vp_matches_closed_form(rng, time):
    den = AnalyticDenoiser(gaussian(), sde={"name": "vp", "beta_min": 0.1, "beta_max": 20.0,
                                            "T": 1.0})
    vp = sde_mod.VPSDE()
    x = rng.standard_normal((5, 2))
    want = gaussian_eps(x, float(vp.mean_coef(time)), float(vp.marginal_std(time)))
    np.testing.assert_allclose(den.predict_eps(x, time), want, rtol=2e-5, atol=2e-6)
    assert den.info.time_kind == "continuous" and den.info.sde["name"] == "vp"


def test_per_sample_times_match_scalar_calls(rng):
    den = AnalyticDenoiser.for_toy("double_gaussian", T=100)
    x = rng.standard_normal((4, 2))
    t = np.array([0, 50, 99, 50])
    batch = den.predict_eps(x, t)
    for i in range(4):
        np.testing.assert_allclose(batch[i], den.predict_eps(x[i:i + 1], int(t[i]))[0],
                                   rtol=1e-6, atol=1e-7)


def test_residual_is_orthogonal_to_the_prediction(rng):
    """eps* = E[eps | x_t], so the residual eps - eps*(x_t) is uncorrelated with eps*(x_t)."""
    mix = mixtures.GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]],
                                   [np.eye(2) * 0.1, np.eye(2) * 0.2])
    den = AnalyticDenoiser(mix, schedule="linear", T=1000)
    n, index = 20000, 300
    x0 = mix.sample(n, rng)
    eps = rng.standard_normal((n, 2))
    ab = den.schedule.alpha_bars[index]
    xt = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps
    pred = den.predict_eps(xt, index).astype(np.float64)
    inner = np.sum((eps - pred) * pred, axis=1)
    assert abs(inner.mean()) < 4 * inner.std() / np.sqrt(n)
    # and it beats the best linear (single-Gaussian) guess by a clear margin
    assert np.mean((eps - pred) ** 2) < 0.9 * np.mean((eps - np.sqrt(1 - ab) * xt) ** 2)


def test_score_is_minus_eps_over_std(rng):
    den = AnalyticDenoiser(gaussian(), T=50)
    x = rng.standard_normal((3, 2))
    std = np.sqrt(1 - den.schedule.alpha_bars[10])
    np.testing.assert_allclose(den.score(x, 10), -den.predict_eps(x, 10) / std, rtol=1e-5)


def test_info_and_protocol():
    den = AnalyticDenoiser.for_toy("moons", schedule="cosine", T=200)
    assert isinstance(den, Denoiser)
    assert den.provider == "analytic"
    assert den.info.kind == "points" and den.info.sample_shape == (2,)
    assert den.info.schedule == "cosine" and den.info.T == 200 and den.info.dataset == "moons"
    lo, hi = den.info.value_range
    assert lo < -1 and hi > 1


def test_from_info_follows_the_network():
    info = ModelInfo(kind="points", sample_shape=(2,), time_kind="continuous",
                     sde={"name": "ve", "sigma_min": 0.01, "sigma_max": 10.0, "T": 1.0})
    den = AnalyticDenoiser.from_info(gaussian(), info)
    assert den.info.time_kind == "continuous" and den.sde.name == "ve"
    den = AnalyticDenoiser.from_info(gaussian(), ModelInfo(kind="points", sample_shape=(2,),
                                                           schedule="cosine", T=30))
    assert den.schedule.T == 30 and den.info.schedule == "cosine"


def test_errors(rng):
    den = AnalyticDenoiser(gaussian(), T=10)
    with pytest.raises(ValueError, match=r"x has shape \(3, 3\), expected \(B, 2\)"):
        den.predict_eps(np.zeros((3, 3)), 0)
    with pytest.raises(ValueError, match="out of range 0..9"):
        den.predict_eps(np.zeros((3, 2)), 10)
    with pytest.raises(ValueError, match=r"expected \(\) or \(3,\)"):
        den.predict_eps(np.zeros((3, 2)), [1, 2])
    cont = AnalyticDenoiser(gaussian(), sde={"name": "vp"})
    with pytest.raises(ValueError, match=r"time must lie in \[0, 1.0\]"):
        cont.predict_eps(np.zeros((1, 2)), 1.5)
