"""The physics under diffusion models: lattice random walk, master equation, heat kernel, OU.

Notation (seed note 001, after Einstein 1905; Song et al. 2021 for the SDE view)
-------------------------------------------------------------------------------
A particle on the integer lattice jumps left with probability p, right with probability q and
stays with probability 1 - p - q at each time step.  Time is counted in steps, space in sites.

    master equation   C_i(t+1) = q C_{i-1}(t) + p C_{i+1}(t) + (1 - p - q) C_i(t)
                      C_i(t+1) - C_i(t) = (p - q)/2 [C_{i+1} - C_{i-1}]
                                          + (p + q)/2 [C_{i+1} - 2 C_i + C_{i-1}]
    one step          mean (q - p), variance (p + q) - (q - p)^2          (exact, every step)
    continuum limit   dC/dt = D d^2C/dx^2 - v dC/dx,   D = (p + q)/2,  v = q - p
    heat kernel       C(x, t) = exp(-(x - x0 - v t)^2 / (4 D t)) / sqrt(4 pi D t)
    mean squared displacement  <(x_t - x_0)^2> = 2 D t (no drift)

The lattice walk's variance per step, (p + q) - (q - p)^2, equals 2D only without drift; the
difference is second order in (q - p) and vanishes in the continuum scaling of the seed (p and q
shrink with the time step).  :func:`walk_coefficients` returns either.

Ornstein-Uhlenbeck (the Fokker-Planck example of seed 001; :class:`diffview.core.sde.OUSDE`):

    SDE               dx = -gamma x dt + sigma dW
    Fokker-Planck     dp/dt = d/dx (gamma x p) + sigma^2/2 d^2p/dx^2
    solution          x_t | x_0 ~ N(x_0 e^{-gamma t}, sigma^2/(2 gamma) (1 - e^{-2 gamma t}))
    stationary        N(0, sigma^2 / (2 gamma))

(The seed writes the diffusion term as d^2(B f)/dx^2 with B = sigma^2; with the Ito SDE above
the coefficient is sigma^2 / 2.)
"""

from __future__ import annotations

import math

import numpy as np

BOUNDARIES = ("reflecting", "absorbing", "periodic")


def _check_pq(p: float, q: float) -> tuple[float, float]:
    p, q = float(p), float(q)
    if not (0.0 <= p <= 1.0 and 0.0 <= q <= 1.0 and p + q <= 1.0 + 1e-12):
        raise ValueError(f"p and q must be in [0, 1] with p + q <= 1, got p={p}, q={q}")
    return p, q


def _check_count(name: str, value: int, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def walk_coefficients(p: float, q: float, exact: bool = False) -> tuple[float, float]:
    """(D, v) of the walk: drift v = q - p per step and diffusion coefficient D.

    ``exact=False``: the continuum-limit D = (p + q)/2.  ``exact=True``: D = [(p + q) -
    (q - p)^2] / 2, half the exact variance per step, so 2 D t is the walk's variance at every t.
    """
    p, q = _check_pq(p, q)
    d = 0.5 * (p + q - (q - p) ** 2) if exact else 0.5 * (p + q)
    return d, q - p


def lattice_walk(n_particles: int, n_steps: int, p: float, q: float,
                 rng: np.random.Generator, x0: int = 0) -> np.ndarray:
    """Independent lattice walks of many particles.

    Parameters
    ----------
    n_particles, n_steps : N particles, n_steps steps each.
    p, q : probabilities of a step left (-1) and right (+1); 1 - p - q to stay.
    rng : numpy Generator.
    x0 : starting site of every particle.

    Returns
    -------
    positions : int64 (n_steps + 1, N); row 0 is x0.
    """
    p, q = _check_pq(p, q)
    n_particles = _check_count("n_particles", n_particles, 1)
    n_steps = _check_count("n_steps", n_steps, 0)
    u = rng.random((n_steps, n_particles))
    # one uniform per move: [0, p) left, [1 - q, 1) right, otherwise stay
    steps = (u >= 1.0 - q).astype(np.int64) - (u < p).astype(np.int64)
    out = np.empty((n_steps + 1, n_particles), dtype=np.int64)
    out[0] = x0
    np.cumsum(steps, axis=0, out=out[1:])
    out[1:] += x0
    return out


def msd(positions: np.ndarray) -> np.ndarray:
    """Mean squared displacement <(x_t - x_0)^2> over particles.

    positions (n_steps + 1, N) -> (n_steps + 1,).
    """
    positions = np.asarray(positions)
    if positions.ndim != 2:
        raise ValueError(f"positions must have shape (n_steps + 1, N), got {positions.shape}")
    disp = (positions - positions[:1]).astype(np.float64)
    return np.mean(disp * disp, axis=1)


def master_equation(c0: np.ndarray, p: float, q: float, n_steps: int,
                    boundary: str = "reflecting") -> np.ndarray:
    """Evolve concentrations on a finite lattice by the master equation.

    C_i(t+1) = q C_{i-1}(t) + p C_{i+1}(t) + (1 - p - q) C_i(t).

    Parameters
    ----------
    c0 : (L,) initial concentrations (e.g. a one-hot vector for a single particle).
    p, q : jump probabilities left and right.
    n_steps : number of steps.
    boundary : what happens to a jump off the ends: ``"reflecting"`` (the particle stays, mass
        conserved), ``"absorbing"`` (it is lost) or ``"periodic"`` (it re-enters at the other end).

    Returns
    -------
    (n_steps + 1, L) float64; row 0 is c0.  Away from the ends (fewer steps than the distance of
    the mass to an end) all three boundaries give the same, exact, result.
    """
    p, q = _check_pq(p, q)
    n_steps = _check_count("n_steps", n_steps, 0)
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    c = np.array(c0, dtype=np.float64)
    if c.ndim != 1 or c.size < 2:
        raise ValueError(f"c0 must be a 1-D array of length >= 2, got shape {c.shape}")
    out = np.empty((n_steps + 1, c.size))
    out[0] = c
    stay = 1.0 - p - q
    for t in range(n_steps):
        new = stay * c
        if boundary == "periodic":
            new += q * np.roll(c, 1) + p * np.roll(c, -1)
        else:
            new[1:] += q * c[:-1]      # arrivals from the left neighbour
            new[:-1] += p * c[1:]      # arrivals from the right neighbour
            if boundary == "reflecting":
                new[0] += p * c[0]     # a blocked jump is a stay
                new[-1] += q * c[-1]
        c = new
        out[t + 1] = c
    return out


def heat_kernel(x, time, D: float, v: float = 0.0, x0: float = 0.0):  # noqa: N803
    """Green's function of dC/dt = D C'' - v C': a Gaussian of mean x0 + v t and variance 2 D t.

    C(x, t) = exp(-(x - x0 - v t)^2 / (4 D t)) / sqrt(4 pi D t);  ``x`` and ``time`` broadcast,
    ``time > 0``.
    """
    t = np.asarray(time, dtype=np.float64)
    if np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"time must be > 0, got {time}")
    if not D > 0:
        raise ValueError(f"D must be > 0, got {D}")
    x = np.asarray(x, dtype=np.float64)
    four_dt = 4.0 * D * t
    return np.exp(-((x - x0 - v * t) ** 2) / four_dt) / np.sqrt(math.pi * four_dt)


# ---------------------------------------------------------------------------------------------
# Ornstein-Uhlenbeck
# ---------------------------------------------------------------------------------------------

def _check_ou(gamma: float, sigma: float) -> tuple[float, float]:
    gamma, sigma = float(gamma), float(sigma)
    if not (gamma > 0 and math.isfinite(gamma)):
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be > 0, got {sigma}")
    return gamma, sigma


def ou_stationary_std(gamma: float, sigma: float) -> float:
    """sigma / sqrt(2 gamma): the stationary standard deviation of dx = -gamma x dt + sigma dW."""
    gamma, sigma = _check_ou(gamma, sigma)
    return sigma / math.sqrt(2.0 * gamma)


def ou_mean_std(x0, gamma: float, sigma: float, time):
    """Exact mean x0 e^{-gamma t} and standard deviation of x_t | x_0 (broadcast over x0, time)."""
    gamma, sigma = _check_ou(gamma, sigma)
    t = np.asarray(time, dtype=np.float64)
    mean = np.asarray(x0, dtype=np.float64) * np.exp(-gamma * t)
    std = sigma / math.sqrt(2.0 * gamma) * np.sqrt(-np.expm1(-2.0 * gamma * t))
    return mean, std


def ou_simulate(x0, gamma: float, sigma: float, dt: float, n_steps: int,
                rng: np.random.Generator, method: str = "exact") -> np.ndarray:
    """Simulate dx = -gamma x dt + sigma dW for many particles at once.

    ``method="exact"``: the exact transition, correct for any dt,
    x_{k+1} = e^{-gamma dt} x_k + sigma sqrt((1 - e^{-2 gamma dt}) / (2 gamma)) z.
    ``method="euler"``: Euler-Maruyama x_{k+1} = (1 - gamma dt) x_k + sigma sqrt(dt) z, whose
    stationary variance is sigma^2 / (gamma (2 - gamma dt)) instead of sigma^2 / (2 gamma)
    (and which is unstable for gamma dt >= 2).

    Parameters
    ----------
    x0 : float or array of starting points, any shape S.

    Returns
    -------
    (n_steps + 1, *S) float64; row 0 is x0.
    """
    gamma, sigma = _check_ou(gamma, sigma)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be > 0, got {dt}")
    n_steps = _check_count("n_steps", n_steps, 0)
    if method == "exact":
        a = math.exp(-gamma * dt)
        b = sigma * math.sqrt(-math.expm1(-2.0 * gamma * dt) / (2.0 * gamma))
    elif method == "euler":
        a, b = 1.0 - gamma * dt, sigma * math.sqrt(dt)
    else:
        raise ValueError(f"method must be 'exact' or 'euler', got {method!r}")
    x = np.array(x0, dtype=np.float64)
    out = np.empty((n_steps + 1, *x.shape))
    out[0] = x
    for k in range(n_steps):
        x = a * x + b * rng.standard_normal(x.shape)
        out[k + 1] = x
    return out


def ou_fokker_planck(p0: np.ndarray, x: np.ndarray, gamma: float, sigma: float, dt: float,
                     n_steps: int) -> np.ndarray:
    """Evolve a density by the OU Fokker-Planck equation on a uniform grid (finite volumes).

    dp/dt = -dJ/dx with flux J = -gamma x p - sigma^2/2 dp/dx, evaluated at the cell faces
    (central differences) and set to zero at the two ends, so total mass sum(p) dx is conserved
    to rounding.  Explicit sub-steps small enough for stability (diffusion number <= 0.4) are taken
    between the returned frames.

    Parameters
    ----------
    p0 : (M,) initial density at the grid points ``x``.
    x : (M,) uniformly spaced grid, wide enough that p stays ~0 at the ends.
    dt, n_steps : time between returned frames and their number.

    Returns
    -------
    (n_steps + 1, M) densities; row 0 is p0.
    """
    gamma, sigma = _check_ou(gamma, sigma)
    x = np.asarray(x, dtype=np.float64)
    p = np.array(p0, dtype=np.float64)
    if x.ndim != 1 or x.size < 3 or p.shape != x.shape:
        raise ValueError(f"x and p0 must be 1-D of the same length >= 3, got {x.shape}, {p.shape}")
    h = float(x[1] - x[0])
    if not (h > 0 and np.allclose(np.diff(x), h, rtol=1e-6)):
        raise ValueError("x must be increasing and uniformly spaced")
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be > 0, got {dt}")
    n_steps = _check_count("n_steps", n_steps, 0)
    diff = 0.5 * sigma * sigma
    x_face = 0.5 * (x[1:] + x[:-1])
    # stability of the explicit scheme: diffusion number and drift Courant number
    dt_max = min(0.4 * h * h / diff, 0.4 * h / (gamma * float(np.max(np.abs(x_face)))))
    n_sub = max(1, math.ceil(dt / dt_max))
    tau = dt / n_sub
    out = np.empty((n_steps + 1, p.size))
    out[0] = p
    flux = np.zeros(p.size + 1)
    for k in range(n_steps):
        for _ in range(n_sub):
            flux[1:-1] = -gamma * x_face * 0.5 * (p[1:] + p[:-1]) - diff * (p[1:] - p[:-1]) / h
            p = p - tau / h * (flux[1:] - flux[:-1])
        out[k + 1] = p
    return out
