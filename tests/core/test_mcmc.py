"""Random-walk Metropolis on targets whose moments and acceptance rates are known exactly."""

import math

import numpy as np
import pytest

from diffview.core.mcmc import MCMCResult, gaussian_log_prob, metropolis, metropolis_iter

MEAN = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.6], [0.6, 2.0]])


def _cov_se(cov, n):
    """Standard errors of a sample covariance of n Gaussian points, sqrt((S_ii S_jj + S_ij^2)/n)."""
    d = np.diag(cov)
    return np.sqrt((np.outer(d, d) + cov**2) / n)


def test_many_chains_recover_mean_and_covariance():
    rng = np.random.default_rng(0)
    n_chains = 3000
    x0 = 3.0 * rng.standard_normal((n_chains, 2))  # over-dispersed start
    res = metropolis(gaussian_log_prob(MEAN, COV), x0, 300, 1.5, rng)
    assert isinstance(res, MCMCResult)
    assert res.chain.shape == (301, n_chains, 2)
    np.testing.assert_array_equal(res.chain[0], x0)
    # the final states of independent chains are independent draws (after 300 steps of burn-in)
    final = res.chain[-1]
    se = np.sqrt(np.diag(COV) / n_chains)
    assert np.all(np.abs(final.mean(axis=0) - MEAN) < 4 * se)
    assert np.all(np.abs(np.cov(final.T) - COV) < 4 * _cov_se(COV, n_chains))


def test_one_long_chain_by_batch_means():
    rng = np.random.default_rng(1)
    res = metropolis(gaussian_log_prob(MEAN, COV), np.zeros(2), 5500, 1.5, rng)
    assert res.chain.shape == (5501, 2) and res.accept_rates.shape == (1,)
    # batch means absorb the autocorrelation (tens of steps here): 20 batches of 250 steps
    batches = res.chain[501:].reshape(20, 250, 2).mean(axis=1)
    se = batches.std(axis=0, ddof=1) / math.sqrt(20)
    assert np.all(np.abs(batches.mean(axis=0) - MEAN) < 4 * se)


@pytest.mark.parametrize("h", [0.5, 2.4, 5.0])
def test_acceptance_rate_matches_the_gaussian_formula(h):
    # 1-D standard normal target started in equilibrium: E[accept] = (2/pi) arctan(2/h).
    rng = np.random.default_rng(2)
    n_chains = 4000
    res = metropolis(gaussian_log_prob([0.0], [[1.0]]), rng.standard_normal((n_chains, 1)), 40,
                     h, rng)
    expected = 2 / math.pi * math.atan(2 / h)
    # chains are independent, so the spread of the per-chain rates gives an honest SE
    se = res.accept_rates.std(ddof=1) / math.sqrt(n_chains)
    assert res.accept_rate == pytest.approx(expected, abs=4 * se)
    assert 0.0 < res.accept_rate < 1.0


def test_acceptance_falls_with_step_size():
    rng = np.random.default_rng(3)
    lp = gaussian_log_prob(MEAN, COV)
    x0 = MEAN + rng.standard_normal((500, 2))
    rates = [metropolis(lp, x0, 100, h, rng).accept_rate for h in (0.1, 0.5, 2.0, 8.0)]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert rates[0] > 0.9 and rates[-1] < 0.2


def test_the_target_is_invariant():
    # Detailed balance implies invariance: chains started on the target stay on it, step by step.
    rng = np.random.default_rng(4)
    n = 20000
    chol = np.linalg.cholesky(COV)
    x0 = MEAN + rng.standard_normal((n, 2)) @ chol.T
    res = metropolis(gaussian_log_prob(MEAN, COV), x0, 3, 3.0, rng)
    for x in res.chain[1:]:
        assert np.all(np.abs(x.mean(axis=0) - MEAN) < 4 * np.sqrt(np.diag(COV) / n))
        assert np.all(np.abs(np.cov(x.T) - COV) < 4 * _cov_se(COV, n))


def test_hard_constraints_and_iterator():
    # uniform on the unit disk: -inf outside; E r^2 = 1/2, and no chain ever leaves
    def log_prob(x):
        return np.where(np.sum(x * x, axis=1) <= 1.0, 0.0, -np.inf)

    rng = np.random.default_rng(5)
    n = 4000
    steps = list(metropolis_iter(log_prob, np.zeros((n, 2)), 60, 0.8, rng))
    assert [k for k, _, _ in steps] == list(range(1, 61))
    for _, x, accepted in steps:
        assert np.all(np.sum(x * x, axis=1) <= 1.0)
        assert accepted.shape == (n,) and accepted.dtype == bool
    r2 = np.sum(steps[-1][1] ** 2, axis=1)
    assert abs(r2.mean() - 0.5) < 4 * math.sqrt(1 / 12 / n)  # r^2 is uniform on [0, 1]


def test_reproducible_and_bad_arguments():
    lp = gaussian_log_prob(MEAN, COV)
    a = metropolis(lp, np.zeros((3, 2)), 50, 1.0, np.random.default_rng(6))
    b = metropolis(lp, np.zeros((3, 2)), 50, 1.0, np.random.default_rng(6))
    np.testing.assert_array_equal(a.chain, b.chain)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="step_size"):
        metropolis(lp, np.zeros(2), 10, 0.0, rng)
    with pytest.raises(ValueError, match="n_steps"):
        metropolis(lp, np.zeros(2), -1, 1.0, rng)
    with pytest.raises(ValueError, match="x0"):
        metropolis(lp, np.zeros((2, 2, 2)), 10, 1.0, rng)
    with pytest.raises(ValueError, match="log_prob"):
        metropolis(lambda x: np.zeros(7), np.zeros((3, 2)), 10, 1.0, rng)
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_log_prob([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
