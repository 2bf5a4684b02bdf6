"""Flow matching on the linear interpolant, with exact fields for Gaussian-mixture data.

Notation (Lipman et al. 2023, "Flow Matching for Generative Modeling", [L]; Liu et al. 2023,
"Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow", [R];
Esser et al. 2024, "Scaling Rectified Flow Transformers for High-Resolution Image
Synthesis", [E])
---------------------------------------------------------------------------------------------
Points are rows of an ``(N, d)`` array; time ``t`` runs over ``[0, 1]`` with data at 0 and
noise at 1 (the convention of the diffusion modules and of [E] eq. 2):

    interpolant       x_t = (1 - t) x_0 + t eps,   x_0 ~ p_0 (data), eps ~ N(0, I)
    target velocity   u = d x_t / dt = eps - x_0                              ([E] eq. 2-3)
    marginal field    v(x, t) = E[eps - x_0 | x_t = x]                         ([L] eq. 8)
    sampling          dx/dt = v(x, t), integrated from t = 1 (noise) down to t = 0 (data)

[R] writes X_t = t X_1 + (1 - t) X_0 with X_0 the noise and X_1 the data, i.e. its time is
``1 - t`` here and its velocity X_1 - X_0 is ``-v``; [L]'s optimal-transport path with
sigma_min = 0 is the same as [R]'s. Nothing but the direction of time differs.

Gaussian mixtures. For p_0 = sum_k w_k N(mu_k, S_k) the pair (x_t, u) given component k is
jointly Gaussian, so every marginal p_t is again a mixture and v is exact:

    p_t(x)            = sum_k w_k N(x; (1 - t) mu_k, C_k),   C_k = (1 - t)^2 S_k + t^2 I
    Cov(u, x_t | k)   = t I - (1 - t) S_k,  E[u | k] = -mu_k
    E[u | x, k]       = -mu_k + A_k (x - (1 - t) mu_k),   A_k = (t I - (1 - t) S_k) C_k^{-1}
                        (Gaussian conditioning, e.g. Bishop 2006, eq. 2.81)
    v(x, t)           = sum_k r_k(x, t) E[u | x, k],  r_k = w_k N_k(x) / sum_j w_j N_j(x)

Velocity and score of the same path. Since x_t | x_0 ~ N((1 - t) x_0, t^2 I), Tweedie's
formula gives E[eps | x] = -t grad log p_t(x), and x = (1 - t) E[x_0 | x] + t E[eps | x]:

    E[x_0 | x]        = x - t v(x, t)
    E[eps | x]        = x + (1 - t) v(x, t)
    grad log p_t(x)   = -(x + (1 - t) v(x, t)) / t                            (0 < t <= 1)
    v(x, t)           = -(x + t grad log p_t(x)) / (1 - t)                    (0 <= t < 1)

Diffusion's probability-flow ODE. Any Gaussian path x_tau = a(tau) x_0 + b(tau) eps (VP:
a = m(tau), b = s(tau), Song et al. 2021, eq. 13) is the interpolant rescaled: with
c = a + b and t = b / c, y = x / c equals (1 - t) x_0 + t eps, and the chain rule gives
dy/dtau = t'(tau) v(y, t) (Karras et al. 2022, "Elucidating the Design Space...", sec. 4).
So with exact fields the probability-flow ODE and the flow-matching ODE make the same
noise-to-data map; they differ in the path, hence in how many steps a solver needs.
:func:`interpolant_time` gives (t, c) for a path's (a, b).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .mixtures import GaussianMixture

VelocityFn = Callable[[np.ndarray, float], np.ndarray]
"""``v(x (N, d), t float) -> (N, d)``, a velocity field of an ODE dx/dt = v(x, t)."""

SOLVERS = {"euler": 1, "heun": 2, "rk4": 4}
"""ODE solvers and their velocity evaluations per step."""

_CHUNK = 4096


def _check_t(t: float) -> float:
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    return t


# ---------------------------------------------------------------------------------------------
# the interpolant and its exact fields
# ---------------------------------------------------------------------------------------------

def interpolate(x0: np.ndarray, eps: np.ndarray, t) -> np.ndarray:
    """x_t = (1 - t) x_0 + t eps; ``t`` a float or an (N,) array; shapes (N, d)."""
    x0 = np.asarray(x0, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim == 1:
        t = t[:, None]
    return (1.0 - t) * x0 + t * np.asarray(eps, dtype=np.float64)


def flow_marginal(mix: GaussianMixture, t: float) -> GaussianMixture:
    """p_t of the interpolant from ``mix``: weights w_k, means (1-t) mu_k, covs (1-t)^2 S_k + t^2 I.

    At t = 1 every component is N(0, I).
    """
    t = _check_t(t)
    if t == 0.0:
        return mix
    covs = (1.0 - t) ** 2 * mix.covs + (t * t) * np.eye(mix.dim)
    return GaussianMixture(mix.weights, (1.0 - t) * mix.means, covs)


def flow_log_prob(mix: GaussianMixture, x: np.ndarray, t: float) -> np.ndarray:
    """log p_t(x) of the interpolant's marginal, (N, d) -> (N,)."""
    return flow_marginal(mix, t).log_prob(x)


def flow_score(mix: GaussianMixture, x: np.ndarray, t: float) -> np.ndarray:
    """grad log p_t(x) of the interpolant's marginal, (N, d) -> (N, d)."""
    return flow_marginal(mix, t).score(x)


class _VelocityTables:
    """Per-time tables of the exact velocity: v(x) = sum_k r_k(x) (b_k + A_k x).

    With b_k = -mu_k - (1 - t) A_k mu_k (module docstring) the responsibility-weighted sums
    of A_k and b_k are two matrix products of the (N, K) responsibilities.
    """

    def __init__(self, mix: GaussianMixture, t: float) -> None:
        d, k = mix.dim, mix.n_components
        self.marginal = flow_marginal(mix, t)
        cov_xu = t * np.eye(d) - (1.0 - t) * mix.covs                     # (K, d, d)
        # A_k = Cov(u, x) C_k^{-1}; C_k and Cov(u, x) are symmetric and commute only for
        # isotropic S_k, so solve C_k A_k^T = Cov(u, x)^T for A_k^T.
        a = np.swapaxes(np.linalg.solve(self.marginal.covs, np.swapaxes(cov_xu, 1, 2)), 1, 2)
        b = -mix.means - (1.0 - t) * np.einsum("kij,kj->ki", a, mix.means)
        self.table = np.hstack([a.reshape(k, d * d), b])                   # (K, d*d + d)
        self.d = d

    def __call__(self, x: np.ndarray) -> np.ndarray:
        d = self.d
        out = np.empty_like(x)
        for i in range(0, x.shape[0], _CHUNK):
            xc = x[i:i + _CHUNK]
            sums = self.marginal.responsibilities(xc) @ self.table          # (n, d*d + d)
            a_avg = sums[:, :d * d].reshape(-1, d, d)
            out[i:i + _CHUNK] = sums[:, d * d:] + np.einsum("nij,nj->ni", a_avg, xc)
        return out


def _points(x: np.ndarray, d: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"x must have shape (N, {d}), got {x.shape}")
    return x


def flow_velocity(mix: GaussianMixture, x: np.ndarray, t) -> np.ndarray:
    """The exact marginal velocity v(x, t) = E[eps - x_0 | x_t = x] for mixture data.

    Parameters
    ----------
    mix : the data distribution p_0.
    x : (N, d) points.
    t : a float in [0, 1], or an (N,) array of times (a network's batch); each distinct time
        is evaluated once.

    Returns
    -------
    (N, d) velocities; at t = 0 exactly -x, at t = 1 exactly x - E[x_0].
    """
    x = _points(x, mix.dim)
    times = np.asarray(t, dtype=np.float64)
    if times.ndim == 0:
        return _VelocityTables(mix, _check_t(float(times)))(x)
    if times.shape != (x.shape[0],):
        raise ValueError(f"t must be a float or have shape ({x.shape[0]},), got {times.shape}")
    out = np.empty_like(x)
    for tu in np.unique(times):
        sel = times == tu
        out[sel] = _VelocityTables(mix, _check_t(float(tu)))(x[sel])
    return out


def flow_velocity_fn(mix: GaussianMixture) -> VelocityFn:
    """``v(x, t)`` closure of :func:`flow_velocity` for the solvers.

    It keeps the tables of the last time: Heun and RK4 ask for the same time twice in a row.
    """
    last: dict[float, _VelocityTables] = {}

    def velocity(x: np.ndarray, t: float) -> np.ndarray:
        t = _check_t(t)
        tables = last.get(t)
        if tables is None:
            tables = _VelocityTables(mix, t)
            last.clear()
            last[t] = tables
        return tables(_points(x, mix.dim))
    return velocity


def velocity_from_score(score: np.ndarray, x: np.ndarray, t: float) -> np.ndarray:
    """v = -(x + t score) / (1 - t), the velocity of the same path from its score; t < 1."""
    t = float(t)
    if not 0.0 <= t < 1.0:
        raise ValueError(f"t must be in [0, 1) (the relation is singular at 1), got {t}")
    return -(np.asarray(x, dtype=np.float64) + t * np.asarray(score)) / (1.0 - t)


def score_from_velocity(velocity: np.ndarray, x: np.ndarray, t: float) -> np.ndarray:
    """grad log p_t = -(x + (1 - t) v) / t, the score of the same path from its velocity; t > 0."""
    t = float(t)
    if not 0.0 < t <= 1.0:
        raise ValueError(f"t must be in (0, 1] (the relation is singular at 0), got {t}")
    return -(np.asarray(x, dtype=np.float64) + (1.0 - t) * np.asarray(velocity)) / t


def x0_from_velocity(velocity: np.ndarray, x: np.ndarray, t: float) -> np.ndarray:
    """E[x_0 | x_t = x] = x - t v(x, t): the clean-data prediction of a velocity."""
    return np.asarray(x, dtype=np.float64) - float(t) * np.asarray(velocity)


def interpolant_time(a, b):
    """Map a Gaussian path x = a x_0 + b eps onto the interpolant: (t, c) = (b / (a+b), a+b).

    x / c is distributed as the interpolant at t, and the probability-flow ODE of the path
    is the flow-matching ODE in these coordinates (module docstring). For the VP SDE,
    ``a = sde.mean_coef(tau)`` and ``b = sde.marginal_std(tau)``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = a + b
    return (b / c)[()], c[()]


# ---------------------------------------------------------------------------------------------
# ODE solvers at a fixed number of velocity evaluations
# ---------------------------------------------------------------------------------------------

def flow_time_grid(n_steps: int, t_start: float = 1.0, t_end: float = 0.0) -> np.ndarray:
    """Uniform times from ``t_start`` to ``t_end`` (n_steps + 1,); descending for sampling."""
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps}")
    return np.linspace(float(t_start), float(t_end), int(n_steps) + 1)


def steps_for_nfe(method: str, nfe: int) -> int:
    """Steps of ``method`` that fit in ``nfe`` velocity evaluations (at least 1)."""
    per = _evals(method)
    if int(nfe) != nfe or nfe < per:
        raise ValueError(f"nfe must be an integer >= {per} for {method}, got {nfe}")
    return int(nfe) // per


def _evals(method: str) -> int:
    try:
        return SOLVERS[method]
    except KeyError:
        raise ValueError(f"method must be one of {tuple(SOLVERS)}, got {method!r}") from None


def _times(times) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2 or not np.all(np.isfinite(times)):
        raise ValueError(f"times must be a 1-D array of >= 2 finite times, got {times.shape}")
    return times


def euler_iter(velocity: VelocityFn, x: np.ndarray, times) -> Iterator[tuple[float, np.ndarray]]:
    """Euler steps x <- x + h v(x, t) over ``times`` (h = t_{k+1} - t_k); one evaluation a step.

    Yields (t_{k+1}, x) after every step, x a new (N, d) array.
    """
    times = _times(times)
    x = np.array(x, dtype=np.float64)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        x = x + (t_next - t) * velocity(x, float(t))
        yield float(t_next), x


def heun_iter(velocity: VelocityFn, x: np.ndarray, times) -> Iterator[tuple[float, np.ndarray]]:
    """Heun's method (explicit trapezoid): an Euler predictor, then the mean of the slopes at
    both ends (Karras et al. 2022, Alg. 1 without its Euler last step); two evaluations a step.
    """
    times = _times(times)
    x = np.array(x, dtype=np.float64)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        h = t_next - t
        k1 = velocity(x, float(t))
        k2 = velocity(x + h * k1, float(t_next))
        x = x + 0.5 * h * (k1 + k2)
        yield float(t_next), x


def rk4_iter(velocity: VelocityFn, x: np.ndarray, times) -> Iterator[tuple[float, np.ndarray]]:
    """The classical fourth-order Runge-Kutta method; four evaluations a step."""
    times = _times(times)
    x = np.array(x, dtype=np.float64)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        h = t_next - t
        mid = float(t + 0.5 * h)
        k1 = velocity(x, float(t))
        k2 = velocity(x + 0.5 * h * k1, mid)
        k3 = velocity(x + 0.5 * h * k2, mid)
        k4 = velocity(x + h * k3, float(t_next))
        x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        yield float(t_next), x


_ITERS = {"euler": euler_iter, "heun": heun_iter, "rk4": rk4_iter}


def ode_iter(method: str, velocity: VelocityFn, x: np.ndarray,
             times) -> Iterator[tuple[float, np.ndarray]]:
    """Integrate dx/dt = v(x, t) over ``times`` with ``method`` in :data:`SOLVERS`."""
    _evals(method)
    return _ITERS[method](velocity, x, times)


def integrate(method: str, velocity: VelocityFn, x: np.ndarray, times) -> np.ndarray:
    """Run :func:`ode_iter` to the end and return the final (N, d) points."""
    out = np.array(x, dtype=np.float64)
    for _, step in ode_iter(method, velocity, x, times):
        out = step
    return out


# ---------------------------------------------------------------------------------------------
# trajectory measures
# ---------------------------------------------------------------------------------------------

def path_lengths(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polyline length and chord length of each trajectory: path (S+1, N, d) -> (N,), (N,)."""
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 3 or path.shape[0] < 2:
        raise ValueError(f"path must have shape (S+1, N, d) with S >= 1, got {path.shape}")
    length = np.linalg.norm(np.diff(path, axis=0), axis=2).sum(axis=0)
    chord = np.linalg.norm(path[-1] - path[0], axis=1)
    return length, chord


def straightness(path: np.ndarray) -> float:
    """Mean path length over mean chord length of trajectories (S+1, N, d); 1 when straight.

    A ratio of means, not a mean of ratios: a point that barely moves has a tiny chord and
    would dominate the latter. Measured on the solver's polyline, so it depends on the grid.
    """
    length, chord = path_lengths(path)
    mean_chord = float(np.mean(chord))
    if mean_chord == 0.0:
        raise ValueError("the trajectories do not move (zero chord length)")
    return float(np.mean(length)) / mean_chord
