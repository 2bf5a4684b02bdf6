"""Cold diffusion in reverse: degradations, Algorithms 1 and 2, the Gaussian-mixture start.

The error-propagation tests use a degradation that is linear in x, D(x, s) = A_s x, and compare
the samplers with closed forms derived in ``diffview.core.cold.restore_iter``'s notes. Writing
d_s = x_s - A_s x_0 (d_t = 0) and x0_hat = x_0 + e_s:

    Algorithm 1: x_{s-1} = A_{s-1} x0_hat                 => d_{s-1} = A_{s-1} e_s
    Algorithm 2: x_{s-1} = x_s - A_s x0_hat + A_{s-1} x0_hat
                         = A_s x_0 + d_s - A_s (x_0 + e_s) + A_{s-1} (x_0 + e_s)
                                                             => d_{s-1} = d_s + (A_{s-1} - A_s) e_s

(1) A constant error e_s = e: Algorithm 2 telescopes to d_0 = (A_0 - A_t) e = (I - A_t) e, so
    its final error stays at the constant e minus the part the degradation itself destroys;
    Algorithm 1 ends at e (the last x0_hat).
(2) An error that reacts to being off the degradation path, e_s = e + g d_s (g > 1: the
    restoration amplifies deviations, as a deblurring network does), with a scalar fade
    A_s = a_s I, a_s = 1 - c s:
    Algorithm 2: d_{s-1} = (1 + g c) d_s + c e            => d_0 = e ((1 + g c)^t - 1) / g
    Algorithm 1: d_{s-1} = a_{s-1} (e + g d_s)   => d_0 = e sum_{k=0}^{t-1} g^k prod_{j<=k} a_j
    With c = (1 - a_T) / T and t = T, Algorithm 2's error tends to e (exp(g (1 - a_T)) - 1) / g
    as T grows (bounded), Algorithm 1's grows like g^T.
"""

import math

import numpy as np
import pytest

from diffview.core import cold as C
from diffview.core import forward as F
from diffview.core.data import bundled_samples, to_model_range

X0 = to_model_range(bundled_samples().images[:6])  # (6, 1, 28, 28) real garments in [-1, 1]
ORDER = F.mask_order(X0.shape, np.random.default_rng(4))


def _deg(name, T=20):  # noqa: N803
    return C.ColdDegradation(name, T)


# ---------------------------------------------------------------------------------- D(x0, s)


@pytest.mark.parametrize("name", ["blur", "mask", "pixelate"])
def test_step_zero_is_the_identity_and_step_T_the_full_degradation(name):
    deg = _deg(name)
    order = ORDER if name == "mask" else None
    assert np.array_equal(deg.apply(X0, 0, order), X0)
    full = deg.apply(X0, deg.T, order)
    if name == "blur":
        np.testing.assert_array_equal(full, F.blur(X0, 1.0))
    elif name == "pixelate":  # one block over the whole image: each image's mean
        np.testing.assert_allclose(full, np.broadcast_to(X0.mean(axis=(2, 3), keepdims=True),
                                                         X0.shape), atol=1e-6)
    else:  # every pixel hidden
        assert np.all(full == deg.fill)


@pytest.mark.parametrize("name", ["blur", "mask", "pixelate"])
def test_per_image_steps_equal_the_forward_panels_degrade(name):
    deg = _deg(name, T=13)
    steps = np.array([0, 1, 5, 5, 12, 13])
    order = ORDER if name == "mask" else None
    got = deg.apply(X0, steps, order)
    for i, s in enumerate(steps):
        want = F.degrade(name, X0[i], int(s), 13, order=order)
        np.testing.assert_array_equal(got[i], want)


def test_per_image_mask_orders_mask_each_image_with_its_own_order():
    deg = _deg("mask", T=10)
    orders = np.stack([F.mask_order(X0.shape, np.random.default_rng(i)) for i in range(6)])
    got = deg.apply(X0, 4, orders)
    for i in range(6):
        np.testing.assert_array_equal(got[i], F.mask(X0[i], 0.4, orders[i]))


def test_step_for_a_severity_is_the_nearest_model_step():
    deg = C.ColdDegradation("blur", 50)
    assert [deg.step_for(v) for v in (0.001, 0.5, 0.503, 1.0)] == [1, 25, 25, 50]
    np.testing.assert_array_equal(deg.apply(X0, deg.step_for(600 / 1000)), F.blur(X0, 0.6))
    with pytest.raises(ValueError, match=r"severity must be in \(0, 1\]"):
        deg.step_for(0.0)


def test_degradation_round_trips_through_its_metadata():
    deg = C.ColdDegradation("blur", 50)
    d = deg.to_dict((1, 28, 28))
    assert d["name"] == "blur" and d["T"] == 50 and d["max_sigma"] == 7.0
    back = C.ColdDegradation.from_dict(d)
    np.testing.assert_array_equal(back.apply(X0, 17), deg.apply(X0, 17))
    with pytest.raises(ValueError, match="has no T"):
        C.ColdDegradation.from_dict({"name": "blur"})
    with pytest.raises(ValueError, match="degradation must be one of"):
        C.ColdDegradation("noise", 10)
    with pytest.raises(ValueError, match="needs a pixel order"):
        C.ColdDegradation("mask", 10).apply(X0, 3)
    with pytest.raises(ValueError, match=r"step must be an int in 0\.\.10"):
        C.ColdDegradation("blur", 10).apply(X0, 11)


# ----------------------------------------------------------------------------- the samplers


@pytest.mark.parametrize("name", ["blur", "mask", "pixelate"])
@pytest.mark.parametrize("algorithm", [1, 2])
@pytest.mark.parametrize("n_steps", [None, 4])
def test_an_exact_oracle_restores_x0_exactly(name, algorithm, n_steps):
    deg = _deg(name, T=12)
    order = ORDER if name == "mask" else None
    x_t = deg.apply(X0, 9, order)
    calls = []

    def oracle(x, s):
        calls.append(int(s[0]))
        return X0.copy()

    out = C.restore(oracle, deg.bind(order), x_t, 9, algorithm, C.step_table(9, n_steps))
    assert np.array_equal(out, X0)
    assert calls == list(C.step_table(9, n_steps)[:-1])


def _fade(T, a_T=0.2):  # noqa: N803
    """A_s = a_s I with a_s = 1 - c s, c = (1 - a_T) / T."""
    c = (1.0 - a_T) / T
    a = 1.0 - c * np.arange(T + 1)
    return a, c, (lambda x0, s: a[s] * x0)


def _error_model(x0, e, a, g):
    """R(x_s, s) = x0 + e + g (x_s - a_s x0): constant error e plus gain g on deviations."""
    return lambda x, s: x0 + e + g * (x - a[int(s[0])] * x0)


def test_constant_error_algorithm_2_ends_at_I_minus_A_t_e_algorithm_1_at_e():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (3, 1, 6, 6))
    e = 0.05 * rng.standard_normal(x0.shape)
    T = t = 30  # noqa: N806
    a, _, degrade = _fade(T)
    x_t = degrade(x0, t)
    r = _error_model(x0, e, a, g=0.0)
    out2 = C.restore(r, degrade, x_t, t, algorithm=2)
    out1 = C.restore(r, degrade, x_t, t, algorithm=1)
    np.testing.assert_allclose(out2 - x0, (1.0 - a[t]) * e, atol=1e-12)
    np.testing.assert_allclose(out1 - x0, e, atol=1e-12)


def test_constant_error_with_the_real_blur_ends_at_e_minus_blurred_e():
    """The blur is linear in the image: Algorithm 2's final error is (I - A_t) e exactly."""
    deg = _deg("blur", T=25)
    x0 = X0.astype(np.float64)
    e = 0.03 * np.random.default_rng(1).standard_normal(x0.shape)
    t = 18
    out = C.restore(lambda x, s: x0 + e, deg.bind(), deg.apply(x0, t), t, algorithm=2)
    np.testing.assert_allclose(out - x0, e - deg.apply(e, t), atol=1e-10)


@pytest.mark.parametrize("T", [10, 40])
def test_input_dependent_error_matches_the_closed_forms(T):  # noqa: N803
    rng = np.random.default_rng(2)
    x0 = rng.uniform(-1, 1, (2, 1, 4, 4))
    e = 0.01 * rng.standard_normal(x0.shape)
    g = 1.5
    a, c, degrade = _fade(T)
    r = _error_model(x0, e, a, g)
    out2 = C.restore(r, degrade, degrade(x0, T), T, algorithm=2)
    out1 = C.restore(r, degrade, degrade(x0, T), T, algorithm=1)
    want2 = e * ((1.0 + g * c) ** T - 1.0) / g
    k = np.arange(T)
    want1 = e * float(np.sum(g ** k * np.cumprod(a[:T])))
    np.testing.assert_allclose(out2 - x0, want2, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(out1 - x0, want1, rtol=1e-9, atol=1e-14)


def test_algorithm_2_stays_bounded_where_algorithm_1_compounds():
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-1, 1, (2, 1, 4, 4))
    e = 0.01 * rng.standard_normal(x0.shape)
    g, a_T = 1.5, 0.2  # noqa: N806
    errs = {1: [], 2: []}
    for T in (10, 20, 40):  # noqa: N806
        a, _, degrade = _fade(T, a_T)
        r = _error_model(x0, e, a, g)
        for alg in (1, 2):
            out = C.restore(r, degrade, degrade(x0, T), T, algorithm=alg)
            errs[alg].append(np.abs(out - x0).max() / np.abs(e).max())
    limit = (math.exp(g * (1 - a_T)) - 1) / g  # Algorithm 2 as T -> infinity
    assert all(v <= limit + 1e-9 for v in errs[2])
    assert errs[1][0] > 5 * errs[2][0] and errs[1][2] > 100 * errs[2][2]
    assert errs[1][2] > 20 * errs[1][0]  # Algorithm 1's error grows with the number of steps


def test_frames_report_steps_and_the_restoration():
    deg = _deg("pixelate", T=8)
    x_t = deg.apply(X0, 8)
    frames = list(C.restore_iter(lambda x, s: X0, deg.bind(), x_t, 8, 2, [8, 5, 2, 0]))
    assert [(f.step, f.next_step) for f in frames] == [(8, 5), (5, 2), (2, 0)]
    assert all(f.n_total == 3 and np.array_equal(f.x0_hat, X0) for f in frames)
    np.testing.assert_array_equal(frames[0].x, deg.apply(X0, 5))


def test_sampler_arguments_are_checked():
    deg = _deg("blur", T=8)
    x_t = deg.apply(X0, 4)
    with pytest.raises(ValueError, match="algorithm must be 1 or 2"):
        C.restore(lambda x, s: x, deg.bind(), x_t, 4, algorithm=3)
    with pytest.raises(ValueError, match="descend strictly"):
        C.restore(lambda x, s: x, deg.bind(), x_t, 4, steps=[4, 4, 0])
    with pytest.raises(ValueError, match="restore returned shape"):
        C.restore(lambda x, s: x[:1], deg.bind(), x_t, 4)
    with pytest.raises(ValueError, match=r"n_steps must be an int in 1\.\.4"):
        C.step_table(4, 5)
    assert list(C.step_table(10, 3)) == [10, 7, 3, 0]


# --------------------------------------------------------------------------- the mixtures


def test_em_recovers_a_two_component_mixture_and_keeps_the_data_moments():
    rng = np.random.default_rng(5)
    n = 4000
    comp = rng.random(n) < 0.3
    x = np.where(comp[:, None], rng.normal([-3, 0], 0.5, (n, 2)),
                 rng.normal([2, 1], [1.0, 0.3], (n, 2)))
    gmm = C.fit_gmm(x, 2, np.random.default_rng(0))
    i = int(np.argmin(gmm.means[:, 0]))
    se = 5 * math.sqrt(0.3 * 0.7 / n)
    assert abs(gmm.weights[i] - comp.mean()) < 0.01 and abs(gmm.weights[i] - 0.3) < se
    np.testing.assert_allclose(gmm.means[i], [-3, 0], atol=0.1)
    np.testing.assert_allclose(gmm.means[1 - i], [2, 1], atol=0.1)
    np.testing.assert_allclose(np.diag(gmm.covs[1 - i]), [1.0, 0.09], rtol=0.15)
    # after an M-step the mixture's first two moments are the data's (up to the ridge)
    np.testing.assert_allclose(gmm.mean(), x.mean(axis=0), atol=1e-8)
    ridge = 1e-6 * x.var(axis=0).mean()
    np.testing.assert_allclose(gmm.covariance(), np.cov(x.T, bias=True) + ridge * np.eye(2),
                               atol=1e-6)


def test_start_distribution_has_the_moments_of_the_fully_blurred_images():
    x_T = F.blur(to_model_range(bundled_samples().images), 1.0)  # noqa: N806 (200 garments)
    start = C.fit_cold_start(x_T, np.random.default_rng(0), n_components=3)
    flat = x_T.reshape(len(x_T), -1).astype(np.float64)
    assert start.explained >= 0.9999 and start.basis.shape[0] <= 16
    # exact moments of the fitted mixture, mapped back to images
    np.testing.assert_allclose(start.image_mean(), flat.mean(axis=0), atol=1e-9)
    cov = np.cov(flat.T, bias=True)
    np.testing.assert_allclose(start.image_covariance(), cov, atol=2e-4 * np.trace(cov) / 20)
    # and of its samples, within 5 standard errors per pixel
    n = 20000
    s = start.sample(n, np.random.default_rng(1), noise_std=0.0).reshape(n, -1)
    sd = flat.std(axis=0)
    assert np.all(np.abs(s.mean(axis=0) - flat.mean(axis=0)) <= 5 * sd / math.sqrt(n) + 1e-6)
    np.testing.assert_allclose(s.std(axis=0), sd, rtol=0.05, atol=1e-3)
    assert "principal coordinates" in start.fitted_to


def test_start_noise_adds_its_variance_and_round_trips_through_json():
    x_T = F.pixelate(to_model_range(bundled_samples().images), 1.0)  # noqa: N806
    start = C.fit_cold_start(x_T, np.random.default_rng(0), n_components=2)
    assert start.basis.shape[0] == 1  # a fully pixelated image is one number: its mean
    a = start.sample(5000, np.random.default_rng(2), noise_std=0.0)
    b = start.sample(5000, np.random.default_rng(2), noise_std=0.05)
    assert np.allclose(a.std(axis=(2, 3)), 0.0, atol=1e-6)  # flat images
    np.testing.assert_allclose((b - a).std(), 0.05, rtol=0.02)
    back = C.ColdStart.from_dict(start.to_dict())
    np.testing.assert_allclose(back.sample(10, np.random.default_rng(3)),
                               start.sample(10, np.random.default_rng(3)), atol=1e-5)
    with pytest.raises(ValueError, match="incomplete or inconsistent"):
        C.ColdStart.from_dict({"k": 1})
