"""Exact log-likelihood through the probability-flow ODE of a variance-preserving process.

Notation (Song et al. 2021, "Score-Based Generative Modeling through SDEs", [S] sec. 4.3 and
app. D.2; Hutchinson 1989; Grathwohl et al. 2019, "FFJORD")
---------------------------------------------------------------------------------------------
A VP process has x_t = m x_0 + s eps with m^2 + s^2 = 1. Parametrise time by the *level*

    B = -log m^2 = int_0^t beta(u) du,     m = e^{-B/2},   s = sqrt(1 - e^{-B}).

The probability-flow ODE dx/dt = -beta(t)/2 (x + grad log p_t(x))  ([S] eq. 13, VP drift) is,
in B (dB = beta dt, and grad log p = -eps / s),

    dx/dB = f(x, B) = -1/2 (x - eps(x, B) / s(B)),
    div f = -1/2 (D - div_x eps(x, B) / s(B)),

the same trajectory for every beta(t): only the noise levels matter. The instantaneous change of
variables ([S] eq. 39, FFJORD eq. 4) gives

    log p_{B_0}(x_0) = log p_{B_N}(x(B_N)) + int_{B_0}^{B_N} div f(x(B), B) dB.

A discrete model (Ho et al. 2020) of schedule beta_1..beta_T is the VP process at the levels
B_k = -log alpha_bar_k = -sum_{j<=k} log(1 - beta_j) (index k = paper step k + 1), so the ODE
is integrated on a subset of those levels and the network is only ever asked for trained
indices. The continuous-time view of the linear schedule, beta(t) = T beta_{tT} (beta_min =
T beta_1 = 0.1, beta_max = T beta_T = 20 for Ho's schedule; :func:`schedule_vpsde`), is the same
process up to -log(1 - beta) = beta + beta^2/2 + ...: its B(t_k) differs from B_k by
sum beta_j^2 / 2 <= 0.067 at t = 1.

Divergence: Hutchinson's estimator div eps = E_v[v^T J v] with Rademacher probes v, the
Jacobian-vector product J v by a finite difference of the network (an ONNX network has no
autograd): forward (eps(x + d v) - eps(x)) / d, or central (eps(x + d v) - eps(x - d v)) / 2d,
with the step d = ``fd_rel`` * s(B) scaled to the noise level.

Integrator: Heun's method (explicit trapezoid, 2nd order) on the level grid, in the variable
tau = log sigma, sigma = s / m = sqrt(e^B - 1) (dB / dtau = 2 s^2):

    dx/dtau = -s^2 x + s eps,        div(dx/dtau) = -s^2 D + s div eps.

Near the data s div eps tends to a constant (the number of dimensions the model resolves), while
div f in B grows like 1/B; in tau the trapezoid rule is then nearly exact where the integrand is
steepest, and the steps between the trained levels (sigma_1 / sigma_0 = 1.41 for Ho's schedule)
cost little. The divergence integral is accumulated with the same trapezoid weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from diffview.core.schedules import NoiseSchedule

_LOG_2PI = math.log(2.0 * math.pi)
_LN2 = math.log(2.0)

EpsAt = Callable[[np.ndarray, int], np.ndarray]
"""``eps(x (B, ...), j) -> (B, ...)``: the noise prediction at grid point ``j``."""

DivAt = Callable[[np.ndarray, int], np.ndarray]
"""``div(x (B, ...), j) -> (B,)``: the exact divergence of eps at grid point ``j`` (tests)."""


def schedule_levels(schedule: NoiseSchedule) -> np.ndarray:
    """B_k = -log alpha_bar_k for every index k, shape (T,), increasing."""
    return -np.cumsum(np.log1p(-schedule.betas))


def schedule_vpsde(schedule: NoiseSchedule):
    """The continuous-time VP SDE of a linear schedule: beta(t) = T beta_{tT} on t in [0, 1].

    beta_min = T beta_1 and beta_max = T beta_T, so Ho et al.'s schedule gives Song et al.'s
    VPSDE(0.1, 20). Its levels B(t_k), t_k = (k + 1) / T, match :func:`schedule_levels` to first
    order in beta (see the module notes). Only the linear schedule has this form.
    """
    from diffview.core.sde import VPSDE

    if schedule.name != "linear":
        raise ValueError(f"only the linear schedule is a linear-beta VP SDE, got {schedule.name!r}")
    return VPSDE(beta_min=schedule.T * float(schedule.betas[0]),
                 beta_max=schedule.T * float(schedule.betas[-1]), T=1.0)


def level_std(level) -> np.ndarray:
    """s(B) = sqrt(1 - e^{-B})."""
    return np.sqrt(-np.expm1(-np.asarray(level, dtype=np.float64)))


def log_sigma(level) -> np.ndarray:
    """tau = log sigma, sigma = s / m = sqrt(e^B - 1), the integration variable."""
    b = np.asarray(level, dtype=np.float64)
    return 0.5 * np.log(np.expm1(b))


def ode_grid(levels: np.ndarray, n_steps: int, rho: float = 7.0) -> np.ndarray:
    """Indices into ``levels`` for an ``n_steps``-step ODE grid, increasing, first 0, last -1.

    Targets are spaced uniformly in sigma^{1/rho}, sigma = s/m = sqrt(e^B - 1) (Karras et al.
    2022, eq. 5: dense where the data's fine structure is resolved), each moved to the nearest
    available level; duplicates are merged, so a grid finer than the levels returns all of them.
    """
    levels = np.asarray(levels, dtype=np.float64)
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    if levels.ndim != 1 or levels.size < 2 or np.any(np.diff(levels) <= 0) or levels[0] <= 0:
        raise ValueError("levels must be an increasing 1-D array of positive levels")
    sigma = np.sqrt(np.expm1(levels))
    lo, hi = sigma[0] ** (1.0 / rho), sigma[-1] ** (1.0 / rho)
    target = np.linspace(lo, hi, int(n_steps) + 1) ** rho
    idx = np.searchsorted(sigma, target).clip(1, sigma.size - 1)
    nearer_left = np.abs(sigma[idx - 1] - target) <= np.abs(sigma[idx] - target)
    idx = np.where(nearer_left, idx - 1, idx)
    idx[0], idx[-1] = 0, sigma.size - 1
    return np.unique(idx)


def standard_normal_logp(x: np.ndarray) -> np.ndarray:
    """log N(x; 0, I) summed over all but the first axis, (B,)."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(x.shape[0], -1)
    return -0.5 * np.sum(flat * flat, axis=1) - 0.5 * flat.shape[1] * _LOG_2PI


def rademacher(shape, rng: np.random.Generator) -> np.ndarray:
    """Probe vectors with entries +-1 (float64)."""
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def hutchinson_divergence(eps: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                          probes: np.ndarray, step: float,
                          central: bool = False,
                          input_dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """eps(x) and the Hutchinson estimate of div_x eps at x by finite-difference JVPs.

    One network call on the stacked batch [x, x + d v_1, ..., x + d v_P] (and x - d v_j for
    ``central``), so the P probes cost one call of (1 + P) (or 1 + 2P) times the batch.

    Parameters
    ----------
    eps : ``eps(x (M, ...)) -> (M, ...)``.
    x : (B, ...) points.
    probes : (P, B, ...) probe vectors with E[v v^T] = I (e.g. :func:`rademacher`).
    step : the difference step d (> 0).
    central : central differences (error O(d^2), one more call per probe) instead of forward.
    input_dtype : the dtype the network computes in (e.g. float32). Then x is rounded to it and
        d down to a power of two, so that x + d v (v = +-1) is exact in that dtype and the
        network sees exactly the step that the estimator divides by.

    Returns
    -------
    (eps(x) (B, ...) float64, divergence (B,) float64 averaged over the probes).
    """
    x = np.asarray(x, dtype=np.float64)
    probes = np.asarray(probes, dtype=np.float64)
    if probes.ndim != x.ndim + 1 or probes.shape[1:] != x.shape:
        raise ValueError(f"probes must have shape (P, *{x.shape}), got {probes.shape}")
    b, p = x.shape[0], probes.shape[0]
    d = float(step)
    if not (math.isfinite(d) and d > 0):
        raise ValueError(f"step must be a positive number, got {step!r}")
    if input_dtype is not None:
        x = x.astype(input_dtype).astype(np.float64)
        d = 2.0 ** math.floor(math.log2(d))
    parts = [x[None], x[None] + d * probes]
    if central:
        parts.append(x[None] - d * probes)
    stacked = np.concatenate(parts, axis=0).reshape((-1,) + x.shape[1:])
    out = np.asarray(eps(stacked), dtype=np.float64).reshape((-1, b) + x.shape[1:])
    e0 = out[0]
    diff = out[1:1 + p] - (out[1 + p:] if central else e0[None])
    jvp = diff / ((2.0 if central else 1.0) * d)
    div = np.sum((probes * jvp).reshape(p, b, -1), axis=2).mean(axis=0)
    return e0, div


@dataclass(frozen=True)
class FlowStep:
    """The state after step ``step`` of the ODE from the data to the prior.

    Attributes
    ----------
    step : steps done, 1..n_steps.
    level : B reached.
    x : (B, ...) float64, the point at that level.
    div_integral : (B,) float64, int_{B_0}^{level} div f dB so far.
    """

    step: int
    level: float
    x: np.ndarray
    div_integral: np.ndarray


def probability_flow_iter(x0: np.ndarray, eps_at: EpsAt, levels: np.ndarray,
                          rng: np.random.Generator | None = None, n_probes: int = 1,
                          fd_rel: float = 0.01, central: bool = False,
                          div_at: DivAt | None = None,
                          input_dtype=None) -> Iterator[FlowStep]:
    """Integrate the probability-flow ODE from x0 at ``levels[0]`` to ``levels[-1]`` (Heun).

    Parameters
    ----------
    x0 : (B, ...) data points (dequantised for images).
    eps_at : ``eps(x, j)`` at grid point j (j indexes ``levels``; the caller maps j to a
        network index or an SDE time).
    levels : (N + 1,) increasing levels B_0 < ... < B_N.
    rng : draws the Rademacher probes (fresh ones at every evaluation); needed unless
        ``div_at`` is given.
    n_probes : probes per evaluation.
    fd_rel : finite-difference step relative to the noise level, d = fd_rel * s(B).
    central : central instead of forward differences.
    div_at : exact divergence of eps (then eps_at gives eps and no probes are drawn).
    input_dtype : the network's dtype (see :func:`hutchinson_divergence`).

    Yields
    ------
    :class:`FlowStep` after every step; the last one holds x(B_N) and the whole integral.
    """
    x = np.array(x0, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    if levels.ndim != 1 or levels.size < 2 or np.any(np.diff(levels) <= 0) or levels[0] <= 0:
        raise ValueError("levels must be an increasing 1-D array of positive levels")
    if div_at is None and rng is None:
        raise ValueError("rng is needed for the Hutchinson probes (or pass div_at)")
    if not (isinstance(n_probes, (int, np.integer)) and n_probes >= 1):
        raise ValueError(f"n_probes must be a positive int, got {n_probes!r}")
    if not (math.isfinite(fd_rel) and fd_rel > 0):
        raise ValueError(f"fd_rel must be a positive number, got {fd_rel!r}")
    dims = int(np.prod(x.shape[1:]))
    stds = level_std(levels)

    def drift_div(xv: np.ndarray, j: int):
        s = float(stds[j])
        if div_at is not None:
            e = np.asarray(eps_at(xv, j), dtype=np.float64)
            div_eps = np.asarray(div_at(xv, j), dtype=np.float64)
        else:
            probes = rademacher((n_probes,) + xv.shape, rng)
            e, div_eps = hutchinson_divergence(lambda z: eps_at(z, j), xv, probes,
                                               fd_rel * s, central, input_dtype)
        # in tau = log sigma: dB/dtau = 2 s^2, so dx/dtau = -s^2 x + s eps and
        # div(dx/dtau) = -s^2 D + s div eps (see the module notes)
        return -s * s * xv + s * e, -s * s * dims + s * div_eps

    taus = log_sigma(levels)
    integral = np.zeros(x.shape[0])
    f0, d0 = drift_div(x, 0)
    for j in range(levels.size - 1):
        h = float(taus[j + 1] - taus[j])
        x_pred = x + h * f0
        f1, d1 = drift_div(x_pred, j + 1)
        x = x + 0.5 * h * (f0 + f1)
        integral = integral + 0.5 * h * (d0 + d1)
        yield FlowStep(step=j + 1, level=float(levels[j + 1]), x=x, div_integral=integral)
        if j + 1 < levels.size - 1:
            f0, d0 = drift_div(x, j + 1)


def dequantise(x0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform dequantisation of 8-bit images in [-1, 1]: x + U(-1/255, 1/255) per pixel.

    Each pixel value's bin of width 2/255 (the decoder's bins of Ho et al. eq. 13) is filled
    uniformly, so a density p on R^D gives P(pixels) >= (2/255)^D exp E[log p(x + u)].
    """
    x0 = np.asarray(x0, dtype=np.float64)
    return x0 + (rng.random(x0.shape) - 0.5) * (2.0 / 255.0)


def dequantised_bpd(log_p: np.ndarray, n_dims: int) -> np.ndarray:
    """Bits/dim of the 8-bit data from the density log p of the dequantised [-1, 1] image.

    -log2 P(pixels) <= -log2 p(x + u) - D log2(2/255), so bpd = -log p / (D ln 2) + log2(127.5).
    """
    return -np.asarray(log_p, dtype=np.float64) / (n_dims * _LN2) + math.log2(127.5)
