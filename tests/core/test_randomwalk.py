"""Random walk, master equation, heat kernel and Ornstein-Uhlenbeck against their exact laws."""

import math

import numpy as np
import pytest

from diffview.core.randomwalk import (
    heat_kernel,
    lattice_walk,
    master_equation,
    msd,
    ou_fokker_planck,
    ou_mean_std,
    ou_simulate,
    ou_stationary_std,
    walk_coefficients,
)

L = 601
CENTRE = L // 2
SITES = np.arange(L) - CENTRE


def _delta():
    c0 = np.zeros(L)
    c0[CENTRE] = 1.0
    return c0


def _chi2_bound(dof):
    """A generous upper quantile of chi-square(dof): mean + 4 standard deviations."""
    return dof + 4 * math.sqrt(2 * dof)


def _chi2(counts, probs, n):
    """Pearson's chi-square over the bins with expected count >= 5, tails lumped into one bin."""
    expected = n * probs
    keep = expected >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:  # too little in the tails to test on its own: merge into the last kept bin
        obs[-2] += obs[-1]
        exp[-2] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    return float(np.sum((obs - exp) ** 2 / exp)), obs.size - 1


def test_walk_shapes_and_moves():
    rng = np.random.default_rng(0)
    pos = lattice_walk(5000, 40, 0.2, 0.3, rng, x0=7)
    assert pos.shape == (41, 5000) and pos.dtype == np.int64
    assert np.all(pos[0] == 7)
    steps = np.diff(pos, axis=0).ravel()
    assert set(np.unique(steps)) <= {-1, 0, 1}
    counts = np.array([np.sum(steps == -1), np.sum(steps == 0), np.sum(steps == 1)])
    chi2 = np.sum((counts - steps.size * np.array([0.2, 0.5, 0.3])) ** 2
                  / (steps.size * np.array([0.2, 0.5, 0.3])))
    assert chi2 < 13.8  # 2 degrees of freedom, 99.9 % point
    np.testing.assert_array_equal(pos, lattice_walk(5000, 40, 0.2, 0.3,
                                                    np.random.default_rng(0), x0=7))


def test_walk_moments_and_msd():
    n, t = 20000, 200
    p, q = 0.2, 0.3
    pos = lattice_walk(n, t, p, q, np.random.default_rng(1))
    var_step = p + q - (q - p) ** 2
    disp = pos[-1] - pos[0]
    assert abs(disp.mean() - (q - p) * t) < 4 * math.sqrt(var_step * t / n)
    # variance of the sample variance of a near-Gaussian: 2 s^4 / n
    assert disp.var() == pytest.approx(var_step * t, rel=4 * math.sqrt(2 / n))
    # without drift, the mean squared displacement grows as 2 D t
    sym = lattice_walk(n, t, 0.25, 0.25, np.random.default_rng(2))
    d, v = walk_coefficients(0.25, 0.25)
    assert v == 0.0
    m = msd(sym)
    assert m.shape == (t + 1,) and m[0] == 0.0
    for k in (20, 100, 200):
        assert m[k] == pytest.approx(2 * d * k, rel=4 * math.sqrt(2 / n))


def test_master_equation_exact_moments():
    p, q, t = 0.15, 0.35, 250  # t < distance to the ends: no boundary is ever reached
    c = master_equation(_delta(), p, q, t)
    assert c.shape == (t + 1, L)
    mass = c.sum(axis=1)
    np.testing.assert_allclose(mass, 1.0, rtol=1e-12)
    mean = c @ SITES
    var = c @ SITES.astype(float) ** 2 - mean**2
    steps = np.arange(t + 1)
    np.testing.assert_allclose(mean, (q - p) * steps, atol=1e-9)
    np.testing.assert_allclose(var, (p + q - (q - p) ** 2) * steps, atol=1e-8)
    assert np.all(c >= 0)


def test_master_equation_matches_the_seeds_difference_form():
    # C(t+1) - C(t) = (p - q)/2 (C_{i+1} - C_{i-1}) + (p + q)/2 (C_{i+1} - 2 C_i + C_{i-1})
    p, q = 0.1, 0.4
    rng = np.random.default_rng(3)
    c0 = np.zeros(L)
    c0[200:400] = rng.random(200)
    c = master_equation(c0, p, q, 1)
    i = np.arange(1, L - 1)
    rhs = (p - q) / 2 * (c0[i + 1] - c0[i - 1]) + (p + q) / 2 * (c0[i + 1] - 2 * c0[i] + c0[i - 1])
    np.testing.assert_allclose(c[1, i] - c0[i], rhs, atol=1e-15)


def test_boundaries():
    c0 = np.zeros(21)
    c0[2] = 1.0
    refl = master_equation(c0, 0.3, 0.2, 200, boundary="reflecting")
    np.testing.assert_allclose(refl.sum(axis=1), 1.0, rtol=1e-12)
    absb = master_equation(c0, 0.3, 0.2, 200, boundary="absorbing")
    assert np.all(np.diff(absb.sum(axis=1)) <= 1e-15) and absb[-1].sum() < 0.5
    per = master_equation(c0, 0.3, 0.2, 2000, boundary="periodic")
    np.testing.assert_allclose(per.sum(axis=1), 1.0, rtol=1e-12)
    # a periodic lattice relaxes to the uniform distribution; the slowest Fourier mode decays
    # like exp(-(2 pi / 21)^2 D t) = e^-45 by t = 2000 (D = 1/4)
    np.testing.assert_allclose(per[-1], 1 / 21, rtol=1e-9)
    # a reflecting one with drift to the left piles up at the left end (geometric, ratio q/p)
    far = master_equation(c0, 0.3, 0.2, 3000, boundary="reflecting")[-1]
    np.testing.assert_allclose(far[1:] / far[:-1], 0.2 / 0.3, rtol=1e-6)


def test_heat_kernel_is_a_normalised_solution():
    d, v = 0.4, 0.3
    x = np.linspace(-60, 80, 14001)
    h = x[1] - x[0]
    for t in (5.0, 50.0):
        k = heat_kernel(x, t, d, v, x0=2.0)
        assert np.sum(k) * h == pytest.approx(1.0, rel=1e-9)
        mean = np.sum(x * k) * h
        assert mean == pytest.approx(2.0 + v * t, rel=1e-9)
        assert np.sum((x - mean) ** 2 * k) * h == pytest.approx(2 * d * t, rel=1e-8)
    # it solves dC/dt = D C'' - v C' (central differences in t and x)
    t, dt = 7.0, 1e-4
    xs = np.linspace(-5, 10, 31)
    dcdt = (heat_kernel(xs, t + dt, d, v) - heat_kernel(xs, t - dt, d, v)) / (2 * dt)
    dx = 1e-3
    c_p, c_0, c_m = (heat_kernel(xs + dx, t, d, v), heat_kernel(xs, t, d, v),
                     heat_kernel(xs - dx, t, d, v))
    rhs = d * (c_p - 2 * c_0 + c_m) / dx**2 - v * (c_p - c_m) / (2 * dx)
    np.testing.assert_allclose(dcdt, rhs, atol=1e-6)


def test_master_equation_converges_to_the_heat_kernel():
    # Symmetric walk: the local central limit theorem's first correction is the fourth-cumulant
    # term, of relative size 1/t, so the error relative to the peak falls 4x from t=100 to 400.
    c = master_equation(_delta(), 0.25, 0.25, 400)
    d, v = walk_coefficients(0.25, 0.25)

    def rel_err(t):
        k = heat_kernel(SITES, t, d, v)
        return np.max(np.abs(c[t] - k)) / k.max()

    assert rel_err(400) < 1e-3
    assert rel_err(100) / rel_err(400) == pytest.approx(4.0, rel=0.1)


def test_drift_needs_the_exact_diffusion_coefficient():
    # With drift the third cumulant gives a 1/sqrt(t) correction when D is the exact half
    # variance per step; the continuum D = (p + q)/2 misses the variance by (q - p)^2 per step,
    # a relative error that does not shrink with t.
    p, q = 0.2, 0.3
    c = master_equation(_delta(), p, q, 400)

    def rel_err(t, exact):
        d, v = walk_coefficients(p, q, exact=exact)
        k = heat_kernel(SITES, t, d, v)
        return np.max(np.abs(c[t] - k)) / k.max()

    assert rel_err(100, True) / rel_err(400, True) == pytest.approx(2.0, rel=0.2)
    assert rel_err(400, False) > 0.5 * rel_err(100, False) > 3 * rel_err(400, True)


def test_particle_histogram_matches_master_equation_and_heat_kernel():
    n, t = 20000, 120
    p, q = 0.2, 0.3
    pos = lattice_walk(n, t, p, q, np.random.default_rng(4))
    counts = np.bincount(pos[-1] + CENTRE, minlength=L)
    exact = master_equation(_delta(), p, q, t)[-1]
    chi2, dof = _chi2(counts, exact, n)
    assert chi2 < _chi2_bound(dof)
    d, v = walk_coefficients(p, q, exact=True)
    chi2_k, dof_k = _chi2(counts, heat_kernel(SITES, t, d, v), n)
    assert chi2_k < _chi2_bound(dof_k)
    # and the test can tell a wrong law: a kernel with twice the drift fails
    chi2_bad, dof_bad = _chi2(counts, heat_kernel(SITES, t, d, 2 * v), n)
    assert chi2_bad > _chi2_bound(dof_bad)


def test_ou_exact_simulation_relaxes_to_the_stationary_law():
    gamma, sigma, dt, n = 1.5, 0.8, 0.05, 20000
    x = ou_simulate(np.full(n, 2.0), gamma, sigma, dt, 100, np.random.default_rng(5))
    assert x.shape == (101, n)
    for k in (5, 20, 100):
        mean, std = ou_mean_std(2.0, gamma, sigma, k * dt)
        assert abs(x[k].mean() - mean) < 4 * std / math.sqrt(n)
        assert x[k].var() == pytest.approx(std**2, rel=4 * math.sqrt(2 / n))
    assert ou_stationary_std(gamma, sigma) == pytest.approx(sigma / math.sqrt(2 * gamma))
    assert ou_mean_std(2.0, gamma, sigma, 1e3)[1] == pytest.approx(ou_stationary_std(gamma, sigma))


def test_ou_euler_has_its_own_stationary_variance():
    gamma, sigma, dt, n = 1.0, 1.0, 0.5, 20000
    rng = np.random.default_rng(6)
    x = ou_simulate(rng.standard_normal(n), gamma, sigma, dt, 60, rng, method="euler")
    euler_var = sigma**2 / (gamma * (2 - gamma * dt))
    assert x[-1].var() == pytest.approx(euler_var, rel=4 * math.sqrt(2 / n))
    assert abs(x[-1].var() - ou_stationary_std(gamma, sigma) ** 2) > 0.1


def test_ou_fokker_planck_follows_the_gaussian_solution():
    gamma, sigma = 1.0, 1.0
    x = np.linspace(-6, 6, 241)
    h = x[1] - x[0]
    m0, s0 = 2.0, 0.3
    p0 = np.exp(-0.5 * ((x - m0) / s0) ** 2) / (s0 * math.sqrt(2 * math.pi))
    dens = ou_fokker_planck(p0, x, gamma, sigma, 0.25, 12)
    assert dens.shape == (13, x.size)
    np.testing.assert_allclose(dens.sum(axis=1) * h, p0.sum() * h, rtol=1e-12)
    for k in (2, 4, 12):
        t = 0.25 * k
        mean = m0 * math.exp(-gamma * t)
        var = s0**2 * math.exp(-2 * gamma * t) + ou_stationary_std(gamma, sigma) ** 2 * (
            1 - math.exp(-2 * gamma * t))
        exact = np.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)
        # second-order scheme: errors of order h^2 p'' ~ 1e-3 of the peak
        assert np.max(np.abs(dens[k] - exact)) < 5e-3 * exact.max()


def test_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="p and q"):
        lattice_walk(10, 5, 0.7, 0.5, rng)
    with pytest.raises(ValueError, match="n_particles"):
        lattice_walk(0, 5, 0.2, 0.2, rng)
    with pytest.raises(ValueError, match="boundary"):
        master_equation(_delta(), 0.2, 0.2, 3, boundary="sticky")
    with pytest.raises(ValueError, match="c0"):
        master_equation(np.zeros((3, 3)), 0.2, 0.2, 3)
    with pytest.raises(ValueError, match="time"):
        heat_kernel(0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="D"):
        heat_kernel(0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="gamma"):
        ou_simulate(0.0, -1.0, 1.0, 0.1, 3, rng)
    with pytest.raises(ValueError, match="method"):
        ou_simulate(0.0, 1.0, 1.0, 0.1, 3, rng, method="rk")
    with pytest.raises(ValueError, match="uniformly"):
        ou_fokker_planck(np.ones(4), np.array([0.0, 1.0, 3.0, 4.0]), 1.0, 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="positions"):
        msd(np.zeros(5))
