"""Cold diffusion in reverse: restoration samplers and the start distribution for generation.

Notation (Bansal et al. 2022, "Cold Diffusion: Inverting Arbitrary Image Transforms Without
Noise")
-------------------------------------------------------------------------------------------
A deterministic degradation D(x_0, s), s = 0..T, with D(x_0, 0) = x_0 (here the blur, mask and
pixelation of :mod:`diffview.core.forward`, severity = s / T), and a restoration operator
R(x_s, s) ~ x_0 (a network trained with the L1 loss |R(D(x_0, s), s) - x_0|, eq. 1).
Starting from x_t and walking s = t, t-1, ..., 1 with x0_hat = R(x_s, s):

    Algorithm 1 (naive):    x_{s-1} = D(x0_hat, s - 1)
    Algorithm 2 (improved): x_{s-1} = x_s - D(x0_hat, s) + D(x0_hat, s - 1)          (sec. 3.3)

Why Algorithm 2 is robust (sec. 3.3): for a degradation that is linear in s,
D(x, s) = x + s e, every step of Algorithm 2 is x_{s-1} = x_s - e whatever x0_hat is, so the
walk reaches x_0 exactly even with an imperfect R; Algorithm 1 instead returns the last x0_hat,
and every intermediate D(x0_hat, s - 1) is fed back into R off the degradation path, so R's
errors compound. See :func:`restore_iter` for the exact error propagation of both with a linear
D, which the tests check.

A descending table of steps s_0 = t > s_1 > ... > s_n = 0 may skip steps; both algorithms then
use D(x0_hat, s_{k+1}) in place of D(x0_hat, s - 1).

Generation (sec. 5.1): the fully degraded image x_T = D(x_0, T) is nearly a function of few
numbers (the fully blurred image of a garment is smooth; the fully pixelated one is its mean), so
its distribution is modelled by a Gaussian mixture fitted to the fully degraded *training*
images, x_T is drawn from it, a small Gaussian perturbation breaks the symmetry of identical
starts, and Algorithm 2 runs from s = T. Here the mixture lives in the principal subspace of the
fully degraded training images (:class:`ColdStart`): for Fashion-MNIST blurred with sigma = 7 px
(severity 1), 8 principal components hold 99.98 % of their variance, while a flat image of the
per-image mean (the paper's channel-mean model) would miss a within-image standard deviation of
0.16 that the restoration network never saw at s = T.

numpy only. Arrays are float32 unless the input is float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from diffview.core import forward as fwd

__all__ = [
    "ALGORITHMS",
    "ColdDegradation",
    "ColdFrame",
    "ColdStart",
    "GaussianMixture",
    "fit_cold_start",
    "fit_gmm",
    "restore",
    "restore_iter",
    "step_table",
]

ALGORITHMS = (1, 2)

Restore = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""restore(x (B, ...) float, s (B,) int64 step in 1..T) -> x0_hat of x's shape."""
Degrade = Callable[[np.ndarray, int], np.ndarray]
"""degrade(x0 (B, ...), s int in 0..T) -> D(x0, s) of x0's shape."""


# --------------------------------------------------------------------------------------------
# the degradation of a restoration model


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class ColdDegradation:
    """A cold-diffusion degradation D(x_0, s), s = 0..T, built on :mod:`diffview.core.forward`.

    Attributes
    ----------
    name : "blur", "mask" or "pixelate" (see :data:`diffview.core.forward.DEGRADATIONS`).
    T : number of steps; severity = s / T, so s = T is the fully degraded image.
    max_sigma : blur only: sigma at severity 1 in pixels (None: forward's default min(H, W)/4).
    fill : mask only: the value of masked pixels.

    The severity schedules are exactly those of the forward panel: blur sigma = severity *
    max_sigma; mask hides the first round(severity * H * W) pixels of a pixel order; pixelate
    averages b x b blocks, b = 1 + round(severity * (min(H, W) - 1)).
    """

    name: str
    T: int  # noqa: N815 - the paper's symbol
    max_sigma: float | None = None
    fill: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in fwd.DEGRADATIONS:
            raise ValueError(f"degradation must be one of {', '.join(fwd.DEGRADATIONS)}, "
                             f"got {self.name!r}")
        if not _is_int(self.T) or self.T < 1:
            raise ValueError(f"T must be a positive int, got {self.T!r}")
        if self.max_sigma is not None and not (math.isfinite(self.max_sigma)
                                               and self.max_sigma > 0):
            raise ValueError(f"max_sigma must be a positive number, got {self.max_sigma!r}")
        if not math.isfinite(self.fill):
            raise ValueError(f"fill must be finite, got {self.fill!r}")

    # -- applying it ---------------------------------------------------------------------------
    def severity(self, step: int) -> float:
        """step / T."""
        self._check_step(step)
        return int(step) / self.T

    def step_for(self, severity: float) -> int:
        """The model step nearest a severity in (0, 1]: max(1, round(severity * T)).

        For an image the forward panel degraded at its own step k of T_f (severity k / T_f);
        the image equals D(x_0, step) exactly when k / T_f = step / T.
        """
        sev = float(severity)
        if not 0.0 < sev <= 1.0:
            raise ValueError(f"severity must be in (0, 1], got {severity!r}")
        return max(1, int(round(sev * self.T)))

    def _check_step(self, step) -> None:
        if not _is_int(step) or not 0 <= step <= self.T:
            raise ValueError(f"step must be an int in 0..{self.T}, got {step!r}")

    def apply(self, x0: np.ndarray, step: int | np.ndarray,
              order: np.ndarray | None = None) -> np.ndarray:
        """D(x0, step).

        Parameters
        ----------
        x0 : (..., H, W) float array, e.g. (B, C, H, W).
        step : int in 0..T for the whole array, or a (B,) integer array, one step per batch
            element (axis 0).
        order : mask only: an (H*W,) pixel order shared by every element, or a (B, H*W) array
            with one order per element (see :func:`diffview.core.forward.mask_order`).

        Returns
        -------
        array of ``x0``'s shape (a new array).
        """
        x0 = np.asarray(x0)
        steps = np.asarray(step)
        if self.name == "mask":
            if order is None:
                raise ValueError("the mask degradation needs a pixel order "
                                 "(diffview.core.forward.mask_order)")
            order = np.asarray(order)
        if steps.ndim == 0:
            self._check_step(step if _is_int(step) else steps.item())
            s = int(steps)
            if self.name == "mask" and order.ndim == 2:
                return self._per_element(x0, np.full(x0.shape[0], s), order)
            return self._one(x0, s, order)
        if steps.ndim != 1 or x0.ndim < 3 or steps.shape[0] != x0.shape[0] \
                or steps.dtype.kind not in "iu":
            raise ValueError(f"step must be an int or a (B,) integer array for x of shape "
                             f"(B, ..., H, W); got step of shape {steps.shape}, x {x0.shape}")
        if steps.size and (steps.min() < 0 or steps.max() > self.T):
            raise ValueError(f"steps must be in 0..{self.T}, got {steps.min()}..{steps.max()}")
        return self._per_element(x0, steps, order)

    def __call__(self, x0: np.ndarray, step, order: np.ndarray | None = None) -> np.ndarray:
        return self.apply(x0, step, order)

    def _one(self, x0: np.ndarray, s: int, order) -> np.ndarray:
        sev = s / self.T
        if self.name == "blur":
            return fwd.blur(x0, sev, self.max_sigma)
        if self.name == "pixelate":
            return fwd.pixelate(x0, sev)
        return fwd.mask(x0, sev, order, self.fill)

    def _per_element(self, x0: np.ndarray, steps: np.ndarray, order) -> np.ndarray:
        out = np.empty(x0.shape, fwd._float_dtype(x0))
        if self.name == "mask" and order is not None and order.ndim == 2:
            if order.shape[0] != x0.shape[0]:
                raise ValueError(f"order of shape {order.shape} needs one row per batch "
                                 f"element ({x0.shape[0]})")
            for i, s in enumerate(steps):
                out[i] = self._one(x0[i], int(s), order[i])
            return out
        for s in np.unique(steps):  # one call per distinct step
            sel = steps == s
            out[sel] = self._one(x0[sel], int(s), order)
        return out

    def bind(self, order: np.ndarray | None = None) -> Degrade:
        """``degrade(x0, s)`` with the mask order fixed, for :func:`restore_iter`."""
        return lambda x0, s: self.apply(x0, s, order)

    # -- metadata ------------------------------------------------------------------------------
    def to_dict(self, image_shape: tuple[int, ...] | None = None) -> dict:
        """JSON-able description with the severity schedule, for ``ModelInfo.degradation``.

        ``image_shape`` (..., H, W) resolves the blur's default ``max_sigma`` to a number.
        """
        d: dict = {"name": self.name, "T": int(self.T), "severity": "step / T"}
        if self.name == "blur":
            sigma = self.max_sigma
            if sigma is None and image_shape is not None:
                sigma = min(image_shape[-2], image_shape[-1]) / 4.0
            if sigma is not None:
                d["max_sigma"] = float(sigma)
            d["schedule"] = "gaussian blur, sigma = severity * max_sigma (px), reflect padding"
        elif self.name == "mask":
            d["fill"] = float(self.fill)
            d["schedule"] = ("the first round(severity * H * W) pixels of a pixel order set to "
                             "fill; trained with a fresh random order per image")
        else:
            d["schedule"] = "b x b block means, b = 1 + round(severity * (min(H, W) - 1))"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ColdDegradation:
        """Inverse of :meth:`to_dict` (``ModelInfo.degradation`` of a restoration model).

        Raises
        ------
        ValueError
            naming the missing or bad entry.
        """
        if not isinstance(d, dict) or "name" not in d:
            raise ValueError(f"a degradation needs a name, got {d!r}")
        if "T" not in d:
            raise ValueError(f"degradation {d.get('name')!r} has no T (its number of steps)")
        sigma = d.get("max_sigma")
        return cls(name=d["name"], T=d["T"],
                   max_sigma=None if sigma is None else float(sigma),
                   fill=float(d.get("fill", 0.0)))


# --------------------------------------------------------------------------------------------
# the two samplers


@dataclass(frozen=True)
class ColdFrame:
    """One step of a restoration walk.

    Attributes
    ----------
    index : position of the step in the table (0-based); ``n_total`` steps in all.
    step : s, the degradation step the step started from (x0_hat = R(x_s, s)).
    next_step : the step reached (s - 1 without skipping; 0 on the last step).
    x : (B, ...) x_{next_step}.
    x0_hat : (B, ...) R(x_s, s).
    """

    index: int
    n_total: int
    step: int
    next_step: int
    x: np.ndarray
    x0_hat: np.ndarray


def step_table(t: int, n_steps: int | None = None) -> np.ndarray:
    """Descending steps t = s_0 > s_1 > ... > s_n = 0: every step, or ``n_steps`` evenly spaced.

    Returns
    -------
    int64 array of length ``n_steps + 1`` (``t + 1`` when ``n_steps`` is None).
    """
    if not _is_int(t) or t < 1:
        raise ValueError(f"t must be an int >= 1, got {t!r}")
    if n_steps is None:
        return np.arange(t, -1, -1, dtype=np.int64)
    if not _is_int(n_steps) or not 1 <= n_steps <= t:
        raise ValueError(f"n_steps must be an int in 1..{t}, got {n_steps!r}")
    table = np.round(np.linspace(t, 0, n_steps + 1)).astype(np.int64)
    return table


def restore_iter(restore_fn: Restore, degrade: Degrade, x_t: np.ndarray, t: int,
                 algorithm: int = 2, steps: Sequence[int] | None = None) -> Iterator[ColdFrame]:
    """Walk x_t back to x_0 with Algorithm 1 or 2 of Bansal et al. (2022), one frame a step.

    Parameters
    ----------
    restore_fn : R(x, s) -> x0_hat; called with x (B, ...) and s a (B,) int64 array of the
        step (1..T; a network indexed 0..T-1 takes s - 1).
    degrade : D(x0, s) -> x_s for an int s (e.g. :meth:`ColdDegradation.bind`).
    x_t : (B, ...) the degraded images, at step ``t``.
    t : their step, >= 1.
    algorithm : 1 (naive, x_{s-1} = D(x0_hat, s-1)) or 2 (x_{s-1} = x_s - D(x0_hat, s) +
        D(x0_hat, s-1)).
    steps : optional descending table from ``t`` to 0 (see :func:`step_table`); default every
        step t, t-1, ..., 0.

    Yields
    ------
    ColdFrame after each step; the last frame's ``x`` is the restored image.

    Notes
    -----
    Error propagation with a linear D(x, s) = A_s x and the deviation d_s = x_s - A_s x_0
    (d_t = 0), writing x0_hat = x_0 + e_s:

        Algorithm 1: d_{s-1} = A_{s-1} e_s                      (final error: e_1, the last R)
        Algorithm 2: d_{s-1} = d_s + (A_{s-1} - A_s) e_s   =>   d_0 = sum_s (A_{s-1} - A_s) e_s

    With an error that does not depend on the input (e_s = e), Algorithm 2 ends at
    (I - A_t) e and Algorithm 1 at e: neither compounds. A real restoration's error depends on
    its input, e_s = e + G (x_s - A_s x_0) (G: how strongly R reacts to being off the
    degradation path; a deblurring network amplifies, G > 1). Then

        Algorithm 1: d_{s-1} = A_{s-1} (e + G d_s)        -- grows like G^t
        Algorithm 2: d_{s-1} = (I + (A_{s-1} - A_s) G) d_s + (A_{s-1} - A_s) e

    and since the increments A_{s-1} - A_s shrink as the steps get finer, Algorithm 2's growth
    factor stays bounded (about exp(G (a_0 - a_t)) for A_s = a_s I) however many steps it takes.
    tests/core/test_cold.py checks both recurrences against these closed forms.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be 1 or 2, got {algorithm!r}")
    x = np.asarray(x_t)
    if x.dtype.kind != "f" or x.ndim < 1:
        raise ValueError(f"x_t must be a float array (B, ...), got {x.dtype} {x.shape}")
    x = x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=True)
    table = step_table(t) if steps is None else np.asarray(steps, dtype=np.int64)
    if table.ndim != 1 or table.size < 2 or table[0] != t or table[-1] != 0 \
            or np.any(np.diff(table) >= 0):
        raise ValueError(f"steps must descend strictly from t={t} to 0, got {list(table)}")
    batch = x.shape[0]
    n = table.size - 1
    for k in range(n):
        s, s_next = int(table[k]), int(table[k + 1])
        x0_hat = np.asarray(restore_fn(x, np.full(batch, s, dtype=np.int64)))
        if x0_hat.shape != x.shape:
            raise ValueError(f"restore returned shape {x0_hat.shape}, expected {x.shape}")
        x0_hat = x0_hat.astype(x.dtype, copy=False)
        if algorithm == 1:
            x = np.asarray(degrade(x0_hat, s_next), dtype=x.dtype)
        else:
            # x_s - D(x0_hat, s) + D(x0_hat, s_next): the difference of two degradations of the
            # same estimate, added to the current image (sec. 3.3)
            x = x - np.asarray(degrade(x0_hat, s), dtype=x.dtype)
            x += np.asarray(degrade(x0_hat, s_next), dtype=x.dtype)
        yield ColdFrame(index=k, n_total=n, step=s, next_step=s_next, x=x, x0_hat=x0_hat)


def restore(restore_fn: Restore, degrade: Degrade, x_t: np.ndarray, t: int,
            algorithm: int = 2, steps: Sequence[int] | None = None) -> np.ndarray:
    """Run :func:`restore_iter` to the end and return the restored (B, ...) images."""
    x = np.asarray(x_t)
    for frame in restore_iter(restore_fn, degrade, x_t, t, algorithm, steps):
        x = frame.x
    return x


# --------------------------------------------------------------------------------------------
# Gaussian mixtures by EM


@dataclass(frozen=True)
class GaussianMixture:
    """A Gaussian mixture with full covariances.

    Attributes
    ----------
    weights : (K,) mixing weights, summing to 1.
    means : (K, d).
    covs : (K, d, d) symmetric positive definite.
    """

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    def mean(self) -> np.ndarray:
        """Mixture mean sum_k w_k mu_k, (d,)."""
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """Mixture covariance sum_k w_k (S_k + mu_k mu_k^T) - mu mu^T, (d, d)."""
        mu = self.mean()
        second = np.einsum("k,kij->ij", self.weights, self.covs) \
            + np.einsum("k,ki,kj->ij", self.weights, self.means, self.means)
        return second - np.outer(mu, mu)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws, (n, d) float64: a component by its weight, then its Gaussian."""
        comp = rng.choice(self.weights.size, size=n, p=self.weights)
        z = rng.standard_normal((n, self.means.shape[1]))
        chol = np.linalg.cholesky(self.covs)
        return self.means[comp] + np.einsum("nij,nj->ni", chol[comp], z)

    def log_likelihood(self, x: np.ndarray) -> float:
        """Mean log density of the rows of ``x`` (N, d)."""
        return float(np.mean(_log_sum_exp(_component_log_pdf(x, self))))


def _component_log_pdf(x: np.ndarray, gmm: GaussianMixture) -> np.ndarray:
    """(N, K): log w_k + log N(x_n; mu_k, S_k)."""
    d = x.shape[1]
    chol = np.linalg.cholesky(gmm.covs)
    out = np.empty((x.shape[0], gmm.weights.size))
    for k in range(gmm.weights.size):
        y = np.linalg.solve(chol[k], (x - gmm.means[k]).T)  # L^-1 (x - mu)
        log_det = 2.0 * np.log(np.diag(chol[k])).sum()
        out[:, k] = (math.log(gmm.weights[k]) - 0.5 * (y * y).sum(axis=0)
                     - 0.5 * (d * math.log(2 * math.pi) + log_det))
    return out


def _log_sum_exp(a: np.ndarray) -> np.ndarray:
    m = a.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]


def fit_gmm(x: np.ndarray, n_components: int, rng: np.random.Generator, n_iter: int = 100,
            tol: float = 1e-6, reg: float = 1e-6) -> GaussianMixture:
    """Fit a full-covariance Gaussian mixture to the rows of ``x`` by EM (Dempster et al. 1977).

    E-step: responsibilities r_nk = w_k N(x_n; mu_k, S_k) / sum_j w_j N(x_n; mu_j, S_j).
    M-step: N_k = sum_n r_nk, w_k = N_k / N, mu_k = sum_n r_nk x_n / N_k,
            S_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg * s^2 I,
    with s^2 the mean variance of the data (a ridge that keeps S_k invertible). Starts from
    k-means++-style seeds. After an M-step the mixture's mean equals the data mean exactly and
    its covariance equals the data covariance up to the ridge: the moments a start distribution
    must match.

    Parameters
    ----------
    x : (N, d) data, N >= n_components.
    n_components : K >= 1.
    rng : seeds the initial means.
    n_iter, tol : at most ``n_iter`` EM iterations; stop when the mean log-likelihood improves by
        less than ``tol``.
    reg : ridge, relative to the data's mean variance.

    Returns
    -------
    GaussianMixture (float64).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError(f"x must be a finite (N, d) array, got shape {x.shape}")
    if not _is_int(n_components) or not 1 <= n_components <= x.shape[0]:
        raise ValueError(f"n_components must be an int in 1..{x.shape[0]}, got {n_components!r}")
    n, d = x.shape
    scale = float(x.var(axis=0).mean()) or 1.0
    ridge = reg * scale * np.eye(d)
    # k-means++ seeding: each new centre drawn with probability proportional to the squared
    # distance to the nearest centre so far
    centres = [x[rng.integers(n)]]
    for _ in range(1, n_components):
        dist = np.min([((x - c) ** 2).sum(axis=1) for c in centres], axis=0)
        total = dist.sum()
        p = dist / total if total > 0 else np.full(n, 1.0 / n)
        centres.append(x[rng.choice(n, p=p)])
    means = np.array(centres)
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    resp = np.zeros((n, n_components))
    resp[np.arange(n), nearest] = 1.0
    gmm = _m_step(x, resp, ridge)
    previous = -np.inf
    for _ in range(n_iter):
        log_p = _component_log_pdf(x, gmm)
        log_norm = _log_sum_exp(log_p)
        resp = np.exp(log_p - log_norm[:, None])
        gmm = _m_step(x, resp, ridge)
        current = float(log_norm.mean())
        if current - previous < tol:
            break
        previous = current
    return gmm


def _m_step(x: np.ndarray, resp: np.ndarray, ridge: np.ndarray) -> GaussianMixture:
    nk = resp.sum(axis=0) + 1e-12
    means = (resp.T @ x) / nk[:, None]
    covs = np.empty((nk.size, x.shape[1], x.shape[1]))
    for k in range(nk.size):
        diff = x - means[k]
        covs[k] = (resp[:, k, None] * diff).T @ diff / nk[k] + ridge
    return GaussianMixture(nk / nk.sum(), means, covs)


# --------------------------------------------------------------------------------------------
# the start distribution of cold generation


@dataclass(frozen=True)
class ColdStart:
    """A Gaussian mixture over the fully degraded training images, in their principal subspace.

    x_T = mean + c @ basis with c ~ GMM (k principal coordinates), then the symmetry-breaking
    noise of Bansal et al. sec. 5.1 is added by :meth:`sample`.

    Attributes
    ----------
    mean : (P,) mean fully degraded image, flattened (P = C * H * W).
    basis : (k, P) orthonormal rows, the first k principal directions.
    gmm : the mixture over the k coordinates.
    image_shape : (C, H, W).
    explained : fraction of the fully degraded images' variance the k directions hold.
    fitted_to : a sentence saying what the mixture was fitted to.
    """

    mean: np.ndarray
    basis: np.ndarray
    gmm: GaussianMixture
    image_shape: tuple[int, ...]
    explained: float
    fitted_to: str = ""

    def sample(self, n: int, rng: np.random.Generator, noise_std: float = 0.002) -> np.ndarray:
        """``n`` starts x_T, float32 (n, C, H, W): mixture draws plus N(0, noise_std^2) noise."""
        if not _is_int(n) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not (math.isfinite(noise_std) and noise_std >= 0):
            raise ValueError(f"noise_std must be >= 0, got {noise_std!r}")
        coords = self.gmm.sample(n, rng)
        x = self.mean + coords @ self.basis
        if noise_std > 0:
            x = x + noise_std * rng.standard_normal(x.shape)
        return x.reshape((n, *self.image_shape)).astype(np.float32)

    def image_mean(self) -> np.ndarray:
        """Mean of the start images (before noise), (P,)."""
        return self.mean + self.gmm.mean() @ self.basis

    def image_covariance(self) -> np.ndarray:
        """Covariance of the start images (before noise), (P, P), rank k."""
        return self.basis.T @ self.gmm.covariance() @ self.basis

    def to_dict(self, digits: int = 7) -> dict:
        """JSON-able parameters (floats rounded to ``digits`` significant digits)."""
        def r(a):
            return [float(f"{v:.{digits}g}") for v in np.asarray(a, np.float64).ravel()]

        k, p = self.basis.shape
        return {"image_shape": list(self.image_shape), "k": int(k), "p": int(p),
                "components": int(self.gmm.weights.size), "explained": float(self.explained),
                "fitted_to": self.fitted_to, "mean": r(self.mean), "basis": r(self.basis),
                "weights": r(self.gmm.weights), "means": r(self.gmm.means),
                "covs": r(self.gmm.covs)}

    @classmethod
    def from_dict(cls, d: dict) -> ColdStart:
        """Inverse of :meth:`to_dict`; a ValueError names what is missing or inconsistent."""
        try:
            shape = tuple(int(v) for v in d["image_shape"])
            k, p, m = int(d["k"]), int(d["p"]), int(d["components"])
            mean = np.asarray(d["mean"], np.float64).reshape(p)
            basis = np.asarray(d["basis"], np.float64).reshape(k, p)
            weights = np.asarray(d["weights"], np.float64).reshape(m)
            means = np.asarray(d["means"], np.float64).reshape(m, k)
            covs = np.asarray(d["covs"], np.float64).reshape(m, k, k)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the cold-generation start distribution is incomplete or "
                             f"inconsistent ({type(exc).__name__}: {exc})") from None
        if math.prod(shape) != p:
            raise ValueError(f"start distribution: image_shape {shape} does not have {p} pixels")
        covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
        return cls(mean, basis, GaussianMixture(weights / weights.sum(), means, covs), shape,
                   float(d.get("explained", float("nan"))), str(d.get("fitted_to", "")))


def fit_cold_start(x_T: np.ndarray, rng: np.random.Generator, n_components: int = 10,  # noqa: N803
                   explained: float = 0.9999, max_dims: int = 16,
                   description: str = "") -> ColdStart:
    """Fit :class:`ColdStart` to fully degraded images D(x_0, T).

    Parameters
    ----------
    x_T : (N, C, H, W) fully degraded training images.
    rng : for the mixture's initialisation.
    n_components : mixture components K.
    explained : keep the fewest principal directions that hold this fraction of the variance
        (at most ``max_dims``; at least 1).
    description : what ``x_T`` is (written into :attr:`ColdStart.fitted_to`).
    """
    x = np.asarray(x_T, dtype=np.float64)
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"x_T must be (N, C, H, W) with N >= 2, got {x.shape}")
    if not 0 < explained <= 1:
        raise ValueError(f"explained must be in (0, 1], got {explained!r}")
    flat = x.reshape(x.shape[0], -1)
    mean = flat.mean(axis=0)
    centred = flat - mean
    # principal directions from the (P, P) covariance: P = 784 is small, N is large
    cov = centred.T @ centred / (flat.shape[0] - 1)
    w, v = np.linalg.eigh(0.5 * (cov + cov.T))
    w, v = np.clip(w[::-1], 0.0, None), v[:, ::-1]
    frac = np.cumsum(w) / max(w.sum(), 1e-300)
    k = int(min(max_dims, max(1, np.searchsorted(frac, explained) + 1)))
    basis = v[:, :k].T
    coords = centred @ basis.T
    gmm = fit_gmm(coords, min(n_components, flat.shape[0]), rng)
    what = description or f"{x.shape[0]} fully degraded images"
    fitted = (f"{gmm.weights.size}-component full-covariance Gaussian mixture over the first {k} "
              f"principal coordinates ({100 * frac[k - 1]:.3f} % of the variance) of {what}")
    return ColdStart(mean, basis, gmm, tuple(x.shape[1:]), float(frac[k - 1]), fitted)
