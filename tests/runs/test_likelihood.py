"""run_elbo and run_ode_nll on an image model whose epsilon is exact: Gaussian pixels.

Data N(mu, s^2) per pixel has the exact noise prediction eps*(x_t) = sigma (x_t - a mu) / v,
v = a^2 s^2 + sigma^2 (a^2 = alpha_bar). For a fixed image, every term's expectation over x_t
is then computable without sampling (two quadrature nodes are exact for the quadratic KL terms,
Gauss-Hermite for the decoder), so both estimators can be held against the exact bound, and the
ODE likelihood against the exact Gaussian log density.
"""

import math

import numpy as np
import pytest

from diffview.core import elbo as E
from diffview.core import likelihood as LK
from diffview.engine.metadata import ModelInfo
from diffview.runs.base import CancelToken, run_to_end
from diffview.runs.likelihood import (
    ElboFrame,
    ElboSpec,
    OdeFrame,
    OdeSpec,
    prepare_images,
    rate_distortion_of,
    run_elbo,
    run_ode_nll,
)

MU, S = 0.1, 0.35
SHAPE = (1, 4, 4)
D = 16


class GaussianPixels:
    """The exact epsilon of N(MU, S^2) pixels, a Denoiser of timestep indices."""

    provider = "analytic"

    def __init__(self, T=100, prediction="eps"):  # noqa: N803
        self.info = ModelInfo(kind="image", sample_shape=SHAPE, schedule="linear", T=T,
                              dataset="gaussian", prediction=prediction)
        self.schedule = self.info.make_schedule()
        self.calls = 0

    def predict_eps(self, x, t):
        self.calls += 1
        t = np.broadcast_to(np.asarray(t), (x.shape[0],))
        a = self.schedule.sqrt_alpha_bars[t][:, None, None, None]
        sig = self.schedule.sqrt_one_minus_alpha_bars[t][:, None, None, None]
        x = np.asarray(x, dtype=np.float64)
        return (sig * (x - a * MU) / (a * a * S * S + sig * sig)).astype(np.float32)


def gaussian_images(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint((MU + S * rng.standard_normal((n, 4, 4)) + 1) * 127.5),
                   0, 255).astype(np.uint8)


def exact_bound_bpd(model, x0, variance="small"):
    """E over x_t of every term for each image: (N,) bound and (T + 1,) mean terms, bits/dim."""
    sch = model.schedule
    n = x0.shape[0]
    terms = np.zeros((n, sch.T + 1))
    terms[:, -1] = E.prior_kl(x0, sch)
    for k in range(1, sch.T):
        a, sig = sch.sqrt_alpha_bars[k], sch.sqrt_one_minus_alpha_bars[k]
        kl = 0.0
        for z in (-1.0, 1.0):          # per pixel exact for a quadratic in z
            x_t = a * x0 + sig * z
            kl = kl + 0.5 * E.kl_term(x0, x_t, k, model.predict_eps(x_t, k).astype(float),
                                      sch, variance)
        terms[:, k] = kl
    nodes, w = np.polynomial.hermite_e.hermegauss(30)
    w = w / w.sum()
    a, sig = sch.sqrt_alpha_bars[0], sch.sqrt_one_minus_alpha_bars[0]
    for z, wz in zip(nodes, w, strict=True):
        x1 = a * x0 + sig * z
        terms[:, 0] += wz * E.decoder_nll(x0, x1, model.predict_eps(x1, 0).astype(float), sch)
    bpd = E.nats_to_bpd(terms, D)
    return bpd.sum(axis=1), bpd.mean(axis=0)


@pytest.fixture(scope="module")
def model():
    return GaussianPixels(T=100)


@pytest.fixture(scope="module")
def images():
    return gaussian_images(24)


@pytest.fixture(scope="module")
def exact(model, images):
    x0 = prepare_images(images, model.info)
    return exact_bound_bpd(model, x0)


def test_full_sum_matches_the_exact_bound(model, images, exact):
    frames = []
    result = run_to_end(run_elbo(ElboSpec(batch=10, frame_every=10), model, images),
                        frames.append)
    per_image, terms = exact
    assert result.n == 24 and result.estimator == "full" and not result.cancelled
    diff = result.image_bpd - per_image
    # one x_t draw per term and image: unbiased, so the mean difference is within its error
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert abs(result.bits_per_dim - per_image.mean()) < 4 * diff.std(ddof=1) / math.sqrt(24)
    assert result.terms_bpd.shape == (101,)
    assert result.terms_bpd.sum() == pytest.approx(result.bits_per_dim, rel=1e-10)
    assert result.prior_bpd == pytest.approx(terms[-1], rel=1e-10)     # no sampling in L_T
    np.testing.assert_allclose(result.terms_bpd[1:-1], terms[1:-1],
                               atol=5 * np.nanmax(result.terms_stderr_bpd[1:-1]))
    # frames: progress counts image-terms, the last frame has every image
    assert all(isinstance(f, ElboFrame) for f in frames)
    steps = [f.step for f in frames]
    assert steps == sorted(steps) and frames[-1].step == frames[-1].total == 24 * 100
    assert frames[-1].n_done == 24 and np.all(np.isfinite(frames[-1].image_bpd))
    assert np.isnan(frames[0].image_bpd).all()            # nothing finished after 10 steps
    assert frames[-1].bits_per_dim == pytest.approx(result.bits_per_dim)
    assert np.all(frames[-1].term_count == 24)


def test_fast_estimator_agrees_with_the_full_sum_over_seeds(model, images, exact):
    per_image, _ = exact
    truth = per_image.mean()
    values, errors = [], []
    for seed in range(12):
        spec = ElboSpec(estimator="fast", n_strata=6, max_passes=2, batch=24, seed=seed)
        r = run_to_end(run_elbo(spec, model, images))
        assert r.passes == 2 and r.n == 24
        assert r.terms_bpd.sum() == pytest.approx(r.bits_per_dim, rel=1e-9)
        values.append(r.bits_per_dim)
        errors.append(r.stderr)
        # the reported error covers the miss of every single run
        assert abs(r.bits_per_dim - truth) < 3 * r.stderr
    values = np.array(values)
    assert abs(values.mean() - truth) < 4 * values.std(ddof=1) / math.sqrt(values.size)


def test_fast_estimator_stops_at_its_target(model, images):
    spec = ElboSpec(estimator="fast", n_strata=6, max_passes=50, batch=24, target_stderr=0.2)
    r = run_to_end(run_elbo(spec, model, images))
    assert r.stderr <= 0.2 and r.passes < 50
    loose = run_to_end(run_elbo(ElboSpec(estimator="fast", n_strata=6, max_passes=3,
                                         batch=24), model, images))
    assert loose.passes == 3


def test_result_does_not_depend_on_the_batch(model, images):
    a = run_to_end(run_elbo(ElboSpec(batch=5, seed=3), model, images[:7]))
    b = run_to_end(run_elbo(ElboSpec(batch=7, seed=3), model, images[:7]))
    np.testing.assert_allclose(a.image_bpd, b.image_bpd, rtol=1e-6)
    f1 = run_to_end(run_elbo(ElboSpec(estimator="fast", batch=2, seed=3, n_strata=5,
                                      max_passes=2), model, images[:7]))
    f2 = run_to_end(run_elbo(ElboSpec(estimator="fast", batch=7, seed=3, n_strata=5,
                                      max_passes=2), model, images[:7]))
    np.testing.assert_allclose(f1.image_bpd, f2.image_bpd, rtol=1e-6)


def test_large_variance_run_matches_its_exact_bound(model, images):
    x0 = prepare_images(images, model.info)
    large, _ = exact_bound_bpd(model, x0, "large")
    r = run_to_end(run_elbo(ElboSpec(variance="large", batch=24), model, images))
    assert r.variance == "large"
    diff = r.image_bpd - large
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / math.sqrt(diff.size)


def test_cancel_returns_a_partial_result(model, images):
    token = CancelToken()
    run = run_elbo(ElboSpec(batch=8, frame_every=10), model, images, token=token)
    frames = []
    result = None
    while True:
        try:
            frame = next(run)
        except StopIteration as stop:
            result = stop.value
            break
        frames.append(frame)
        if frame.n_done >= 8:
            token.cancel()
    assert result.cancelled and result.n == 8
    assert len(result.image_bpd) == 8


def test_rate_distortion_from_a_run(model, images):
    r = run_to_end(run_elbo(ElboSpec(batch=24), model, images))
    rd = rate_distortion_of(r)
    assert rd.rate_bpd.shape == (100,)
    np.testing.assert_allclose(rd.rate_bpd + rd.remaining_bpd, r.bits_per_dim, rtol=1e-10)
    # the exact denoiser's x0 error is the posterior spread, Var(x0 | x_t) = s^2 sigma^2 / v:
    # about S * 127.5 at t = T (x_T says nothing), small at t = 1
    sch = model.schedule
    v = sch.alpha_bars * S * S + (1 - sch.alpha_bars)
    np.testing.assert_allclose(rd.rmse, 127.5 * np.sqrt(S * S * (1 - sch.alpha_bars) / v),
                               rtol=0.25)
    assert rd.rmse[0] < 0.15 * rd.rmse[-1]
    # eps MSE per dimension of the exact denoiser: a^2 s^2 / v (the posterior variance of eps)
    np.testing.assert_allclose(r.eps_mse, sch.alpha_bars * S * S / v, rtol=0.35, atol=0.01)


def test_bad_inputs_are_refused(model):
    with pytest.raises(ValueError, match="8-bit"):
        prepare_images(np.full((2, *SHAPE), 0.5), model.info)
    with pytest.raises(ValueError, match="shape"):
        prepare_images(np.zeros((2, 5, 5), np.uint8), model.info)
    with pytest.raises(ValueError, match="epsilon"):
        next(run_elbo(ElboSpec(), GaussianPixels(prediction="velocity"), gaussian_images(2)))
    with pytest.raises(ValueError, match="variance"):
        ElboSpec(variance="huge")
    with pytest.raises(ValueError, match="estimator"):
        ElboSpec(estimator="slow")
    with pytest.raises(ValueError, match="n_steps"):
        OdeSpec(n_steps=0)


# ------------------------------------------------------------------------------ the ODE


def test_ode_likelihood_equals_the_exact_gaussian_density():
    model = GaussianPixels(T=1000)
    images = gaussian_images(6, seed=5)
    spec = OdeSpec(n_steps=200, batch=4, seed=7)
    frames = []
    result = run_to_end(run_ode_nll(spec, model, images), frames.append)
    assert all(isinstance(f, OdeFrame) for f in frames)
    assert frames[-1].n_done == 6 and result.n == 6
    # the same dequantised image: image i draws its uniform noise first from its generator
    x0 = prepare_images(images, model.info)
    b0 = float(result.levels[0])
    m2 = math.exp(-b0)
    var = m2 * S * S + (1 - m2)
    want = []
    for i in range(6):
        g = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(i,)))
        x = LK.dequantise(x0[i], g)
        logp = np.sum(-0.5 * (x - math.sqrt(m2) * MU) ** 2 / var - 0.5 * math.log(2 * math.pi
                                                                                  * var))
        want.append(LK.dequantised_bpd(np.array([logp]), D)[0])
    # the exact Jacobian is c I, so one Rademacher probe and a forward difference are exact;
    # what is left is Heun's error at 200 steps (about 1e-3 nats per pixel, see
    # tests/core/test_elbo_ode.py) and the N(0, I) prior for N(a_T mu, v_T): ~1e-4 per pixel
    np.testing.assert_allclose(result.image_bpd, want, atol=0.01)
    assert result.network_evals > 0 and result.n_steps <= 200


def test_ode_cancel_and_reproducibility():
    model = GaussianPixels(T=1000)
    images = gaussian_images(4, seed=1)
    a = run_to_end(run_ode_nll(OdeSpec(n_steps=20, batch=2, seed=2), model, images))
    b = run_to_end(run_ode_nll(OdeSpec(n_steps=20, batch=4, seed=2), model, images))
    np.testing.assert_allclose(a.image_bpd, b.image_bpd, rtol=1e-6)
    token = CancelToken()
    run = run_ode_nll(OdeSpec(n_steps=20, batch=2), model, images, token=token)
    next(run)
    token.cancel()
    with pytest.raises(StopIteration) as stop:
        while True:
            next(run)
    assert stop.value.value.cancelled and stop.value.value.n == 0
