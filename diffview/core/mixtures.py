"""Gaussian mixtures: sampling, log density and exact score, at any time of any linear SDE.

Notation (Song et al. 2021, "Score-Based Generative Modeling through SDEs", [S])
------------------------------------------------------------------------------
    p_0(x)        = sum_k w_k N(x; mu_k, C_k)                      the data distribution
    kernel        x_t = m(t) x_0 + s(t) eps                         [S] eq. 29 / appendix B
    p_t(x)        = sum_k w_k N(x; m mu_k, m^2 C_k + s^2 I)         (a Gaussian convolved with a
                                                                     Gaussian stays Gaussian)
    responsibility  r_k(x) = w_k N_k(x) / sum_j w_j N_j(x)           (softmax of the log terms)
    score           grad log p_t(x) = -sum_k r_k(x) P_k (x - mu_k),   P_k = C_k^{-1}
    epsilon         eps(x, t) = -s(t) grad log p_t(x)               ([S] eq. 7 with lambda = s^2;
                                                                     Ho et al.'s eps-prediction)

Speed: with Q_k = x^T P_k x written as a product of the quadratic monomials of x with the
upper triangle of P_k, every log term and the score reduce to matrix products of (n, K)
arrays, so 50,000 points and a few hundred components take one BLAS call per term instead of a
Python loop.  Points are processed in chunks to bound the memory of the (n, K) arrays.
"""

from __future__ import annotations

import math

import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)
# Rows per chunk: (chunk, K) float64 temporaries stay at a few MB for K ~ 200.
_CHUNK = 4096


class GaussianMixture:
    """A mixture of K full-covariance Gaussians in d dimensions (immutable).

    Parameters
    ----------
    weights : (K,) non-negative, normalised here to sum to 1.
    means : (K, d).
    covs : (K, d, d) symmetric positive definite.
    """

    def __init__(self, weights, means, covs) -> None:
        weights = np.array(weights, dtype=np.float64).reshape(-1)
        means = np.array(means, dtype=np.float64)
        covs = np.array(covs, dtype=np.float64)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, d), got {means.shape}")
        k, d = means.shape
        if k < 1 or d < 1:
            raise ValueError(f"means must have K >= 1 and d >= 1, got shape {means.shape}")
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {weights.shape}")
        if covs.shape != (k, d, d):
            raise ValueError(f"covs must have shape ({k}, {d}, {d}), got {covs.shape}")
        if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
            raise ValueError("weights must be finite, >= 0 and not all zero")
        if not (np.all(np.isfinite(means)) and np.all(np.isfinite(covs))):
            raise ValueError("means and covs must be finite")
        if not np.allclose(covs, np.swapaxes(covs, 1, 2), rtol=1e-10, atol=1e-12):
            raise ValueError("covs must be symmetric")
        covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
        try:
            chol = np.linalg.cholesky(covs)
        except np.linalg.LinAlgError:
            raise ValueError("covs must be positive definite") from None
        self._setup(weights / weights.sum(), means, covs, chol)

    @classmethod
    def _trusted(cls, weights, means, covs) -> GaussianMixture:
        """Build without the checks, for parameters derived from a valid mixture (hot path)."""
        self = cls.__new__(cls)
        self._setup(weights, means, covs, np.linalg.cholesky(covs))
        return self

    def _setup(self, weights, means, covs, chol) -> None:
        k, d = means.shape
        prec = np.linalg.inv(covs)
        prec = 0.5 * (prec + np.swapaxes(prec, 1, 2))
        logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)

        self.weights, self.means, self.covs = weights, means, covs
        self.chol, self.precisions, self.logdets = chol, prec, logdet
        # Linear-algebra tables for the vectorised evaluation (see module docstring):
        # log N_k(x) + log w_k = -1/2 [x^T P_k x - 2 x^T P_k mu_k + mu_k^T P_k mu_k] + c_k
        iu = np.triu_indices(d)
        # off-diagonal products x_i x_j (i < j) appear twice in x^T P x
        factor = np.where(iu[0] == iu[1], 1.0, 2.0)
        self._triu = iu
        self._quad = (prec[:, iu[0], iu[1]] * factor).T.copy()           # (d(d+1)/2, K)
        pmu = np.einsum("kij,kj->ki", prec, means)                        # (K, d)
        self._pmu = pmu
        self._lin = pmu.T.copy()                                          # (d, K)
        with np.errstate(divide="ignore"):
            logw = np.log(weights)
        self._const = (logw - 0.5 * np.einsum("ki,ki->k", means, pmu)
                       - 0.5 * logdet - 0.5 * d * _LOG_2PI)               # (K,)
        self._table = np.vstack([-0.5 * self._quad, self._lin, self._const[None]])
        # [P_k flattened | P_k mu_k | 1]: one product with it gives sum_k e_k P_k,
        # sum_k e_k P_k mu_k and sum_k e_k together
        self._score_table = np.hstack([prec.reshape(k, d * d), pmu, np.ones((k, 1))])
        for a in (self.weights, self.means, self.covs, self.chol, self.precisions, self.logdets):
            a.setflags(write=False)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.n_components}, d={self.dim})"

    # -- moments ----------------------------------------------------------------------------
    def mean(self) -> np.ndarray:
        """Mixture mean sum_k w_k mu_k, shape (d,)."""
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """Mixture covariance sum_k w_k (C_k + mu_k mu_k^T) - mean mean^T, shape (d, d)."""
        mu = self.mean()
        second = np.einsum("k,kij->ij", self.weights, self.covs) + np.einsum(
            "k,ki,kj->ij", self.weights, self.means, self.means)
        return second - np.outer(mu, mu)

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator, return_labels: bool = False):
        """Draw ``n`` points, shape (n, d); with ``return_labels`` also their components (n,)."""
        if int(n) != n or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n}")
        n = int(n)
        labels = rng.choice(self.n_components, size=n, p=self.weights)
        z = rng.standard_normal((n, self.dim))
        x = self.means[labels] + np.einsum("nij,nj->ni", self.chol[labels], z)
        return (x, labels) if return_labels else x

    # -- density and score ------------------------------------------------------------------
    def _check_points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (N, {self.dim}), got {x.shape}")
        return x

    def _log_terms(self, x: np.ndarray) -> np.ndarray:
        """log w_k + log N_k(x) for a chunk of points: (n, d) -> (n, K).

        One matrix product of the features [x_i x_j (i <= j), x, 1] with a precomputed table.
        """
        n = x.shape[0]
        feats = np.empty((n, self._table.shape[0]))
        nq = self._triu[0].size
        np.multiply(x[:, self._triu[0]], x[:, self._triu[1]], out=feats[:, :nq])
        feats[:, nq:nq + self.dim] = x
        feats[:, -1] = 1.0
        # einsum's own loop beats a BLAS call for an inner dimension this small (no threads)
        return np.einsum("nf,fk->nk", feats, self._table)

    @staticmethod
    def _logsumexp(terms: np.ndarray):
        """(log sum_k exp terms (n,), softmax (n, K)); consumes ``terms``."""
        top = np.max(terms, axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        terms -= top
        e = np.exp(terms, out=terms)
        total = e.sum(axis=1, keepdims=True)
        lse = (np.log(total) + top)[:, 0]
        e /= total
        return lse, e

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """log p(x) for points (N, d) -> (N,), by log-sum-exp over the components."""
        x = self._check_points(x)
        out = np.empty(x.shape[0])
        for i in range(0, x.shape[0], _CHUNK):
            out[i:i + _CHUNK] = self._logsumexp(self._log_terms(x[i:i + _CHUNK]))[0]
        return out

    def responsibilities(self, x: np.ndarray) -> np.ndarray:
        """Posterior component probabilities r_k(x), shape (N, K); rows sum to 1."""
        x = self._check_points(x)
        out = np.empty((x.shape[0], self.n_components))
        for i in range(0, x.shape[0], _CHUNK):
            out[i:i + _CHUNK] = self._logsumexp(self._log_terms(x[i:i + _CHUNK]))[1]
        return out

    def score(self, x: np.ndarray) -> np.ndarray:
        """grad_x log p(x) = -sum_k r_k(x) P_k (x - mu_k) for points (N, d) -> (N, d)."""
        x = self._check_points(x)
        d = self.dim
        out = np.empty_like(x)
        for i in range(0, x.shape[0], _CHUNK):
            xc = x[i:i + _CHUNK]
            terms = self._log_terms(xc)
            terms -= terms.max(axis=1, keepdims=True)
            # Unnormalised responsibilities: float32 exponentials are twice as fast and exact
            # to ~1e-7 relative; the products stay float64 because P x and P mu nearly cancel
            # for narrow components.  Normalising after the products saves an (n, K) pass.
            e = np.exp(terms.astype(np.float32)).astype(np.float64)
            sums = e @ self._score_table                                   # (n, d*d + d + 1)
            p_avg = sums[:, :d * d].reshape(-1, d, d)                      # sum_k e_k P_k
            p_mu = sums[:, d * d:d * d + d]                                # sum_k e_k P_k mu_k
            out[i:i + _CHUNK] = (p_mu - np.einsum("nij,nj->ni", p_avg, xc)) / sums[:, -1:]
        return out

    # -- under an SDE -----------------------------------------------------------------------
    def marginal(self, sde, time: float) -> GaussianMixture:
        """p_t under a linear SDE started from this mixture: w_k, m mu_k, m^2 C_k + s^2 I."""
        m = float(sde.mean_coef(time))
        s = float(sde.marginal_std(time))
        if time == 0 or s == 0.0:
            return self
        covs = m * m * self.covs + (s * s) * np.eye(self.dim)
        return GaussianMixture._trusted(self.weights, m * self.means, covs)


def mixture_score(mix: GaussianMixture, sde, x: np.ndarray, time: float) -> np.ndarray:
    """Exact score grad log p_t(x) of the mixture pushed through ``sde`` to ``time``; (N, d)."""
    return mix.marginal(sde, time).score(x)


def mixture_eps(mix: GaussianMixture, sde, x: np.ndarray, time) -> np.ndarray:
    """The ideal noise prediction eps(x, t) = -s(t) grad log p_t(x), shape (N, d).

    ``time`` is a float or an (N,) array (a network's batch of times); each distinct time is
    evaluated once.
    """
    x = np.asarray(x, dtype=np.float64)
    times = np.asarray(time, dtype=np.float64)
    if times.ndim == 0:
        return -float(sde.marginal_std(float(times))) * mix.marginal(sde, float(times)).score(x)
    if times.shape != (x.shape[0],):
        raise ValueError(f"time must be a float or have shape ({x.shape[0]},), got {times.shape}")
    out = np.empty_like(x)
    for t in np.unique(times):
        sel = times == t
        out[sel] = -float(sde.marginal_std(float(t))) * mix.marginal(sde, float(t)).score(x[sel])
    return out


def mixture_score_fn(mix: GaussianMixture, sde):
    """``score(x, time)`` closure of :func:`mixture_score`, a ``ScoreFn`` for the samplers.

    It keeps the last marginal mixture: Heun and predictor-corrector steps ask for the same
    time more than once.
    """
    last: dict[float, GaussianMixture] = {}

    def score(x: np.ndarray, time: float) -> np.ndarray:
        time = float(time)
        marg = last.get(time)
        if marg is None:
            marg = mix.marginal(sde, time)
            last.clear()
            last[time] = marg
        return marg.score(x)
    return score


def density_grid(mix: GaussianMixture, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Density p(x, y) on a grid for a heat map: xs (nx,), ys (ny,) -> (ny, nx).

    Row ``i`` is ``y = ys[i]`` (image convention).  Needs a 2-D mixture.
    """
    if mix.dim != 2:
        raise ValueError(f"density_grid needs a 2-D mixture, got dim={mix.dim}")
    xs = np.asarray(xs, dtype=np.float64).reshape(-1)
    ys = np.asarray(ys, dtype=np.float64).reshape(-1)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    return np.exp(mix.log_prob(pts)).reshape(ys.size, xs.size)


def _quantiles(sorted_rows: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Linear interpolation of sorted rows (P, n) at ``levels`` in (0, 1): (P, len(levels)).

    Sample i of n sits at level (i + 1/2) / n.
    """
    n = sorted_rows.shape[1]
    pos = np.clip(levels * n - 0.5, 0.0, n - 1.0)
    lo = np.minimum(np.floor(pos).astype(np.intp), n - 2) if n > 1 else np.zeros(pos.shape, np.intp)
    frac = pos - lo
    hi = np.minimum(lo + 1, n - 1)
    return sorted_rows[:, lo] * (1.0 - frac) + sorted_rows[:, hi] * frac


def _project(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """theta (P, d) . x (N, d) -> (P, N); a d-term loop for small d (a BLAS call with a tiny
    inner dimension mostly pays for thread start-up)."""
    if x.shape[1] > 8:
        return theta @ x.T
    out = theta[:, :1] * x[:, 0]
    for j in range(1, x.shape[1]):
        out += theta[:, j:j + 1] * x[:, j]
    return out


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                       n_projections: int = 128, p: int = 2) -> float:
    """Sliced Wasserstein-p distance between two point clouds (N, d) and (M, d).

    SW_p = (E_theta W_p(theta . a, theta . b)^p)^(1/p) over random unit directions theta; each
    1-D W_p compares sorted projections (quantile functions), at the levels (i + 1/2) / n with
    n = max(N, M) when the sizes differ.  A cheap, sample-based check that two clouds share a
    distribution: two independent samples of size N sit at ~N^(-1/2) from each other.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or a.size == 0 or b.size == 0:
        raise ValueError("a and b must be non-empty (N, d) and (M, d) arrays, "
                         f"got {a.shape} and {b.shape}")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    theta = rng.standard_normal((n_projections, a.shape[1]))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    # projections as contiguous rows (P, N): sorting along the last axis is much faster
    pa = np.sort(_project(theta, a), axis=1)
    pb = np.sort(_project(theta, b), axis=1)
    if pa.shape[1] != pb.shape[1]:
        n = max(pa.shape[1], pb.shape[1])
        levels = (np.arange(n) + 0.5) / n
        pa, pb = _quantiles(pa, levels), _quantiles(pb, levels)
    diff = np.abs(pa - pb)
    return float(np.mean(diff)) if p == 1 else float(np.sqrt(np.mean(diff * diff)))
