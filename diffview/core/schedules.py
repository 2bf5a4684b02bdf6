"""Noise schedules of discrete-time diffusion (DDPM family).

Notation (Ho et al. 2020, "Denoising Diffusion Probabilistic Models")
--------------------------------------------------------------------
The paper numbers the noising steps t = 1..T.  Arrays here are indexed by the
*timestep index* ``i = t - 1`` in ``0..T-1`` (the convention of Ho's reference
code and of diffusers), and this index is what a network receives as its
timestep input.  The clean image x_0 has no index; where a value "before the
first step" is needed (alpha_bar_0 = 1) it is spelled out explicitly.

    beta_t                      variance added at step t
    alpha_t     = 1 - beta_t
    alpha_bar_t = prod_{s<=t} alpha_s                         (eq. 4 of Ho et al.)
    SNR_t       = alpha_bar_t / (1 - alpha_bar_t)
    posterior q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I)     (eqs. 6-7)
        mu~_t   = c0_t x_0 + ct_t x_t
        c0_t    = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t)
        ct_t    = sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)
        beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SCHEDULES = ("linear", "cosine", "sigmoid", "quadratic")


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A beta schedule and every coefficient derived from it (all float64, shape (T,)).

    Build one with :func:`make_schedule`; index ``i`` is the paper's step ``t = i + 1``.
    """

    name: str
    betas: np.ndarray
    alphas: np.ndarray = field(init=False)
    alpha_bars: np.ndarray = field(init=False)
    alpha_bars_prev: np.ndarray = field(init=False)
    sqrt_alpha_bars: np.ndarray = field(init=False)
    sqrt_one_minus_alpha_bars: np.ndarray = field(init=False)
    snr: np.ndarray = field(init=False)
    posterior_variance: np.ndarray = field(init=False)
    posterior_log_variance_clipped: np.ndarray = field(init=False)
    posterior_mean_coef_x0: np.ndarray = field(init=False)
    posterior_mean_coef_xt: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        betas = np.asarray(self.betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size < 1:
            raise ValueError(f"betas must be a non-empty 1-D array, got shape {betas.shape}")
        if not np.all(np.isfinite(betas)) or np.any(betas <= 0) or np.any(betas >= 1):
            raise ValueError("every beta must lie in the open interval (0, 1)")
        alphas = 1.0 - betas
        alpha_bars = np.cumprod(alphas)
        alpha_bars_prev = np.concatenate([[1.0], alpha_bars[:-1]])
        post_var = betas * (1.0 - alpha_bars_prev) / (1.0 - alpha_bars)
        # beta~_1 is 0: the log is clipped to beta~_2 as in Ho et al.'s code.
        post_log_var = np.log(np.concatenate([post_var[1:2], post_var[1:]])) if betas.size > 1 \
            else np.log(betas)
        values = {
            "betas": betas,
            "alphas": alphas,
            "alpha_bars": alpha_bars,
            "alpha_bars_prev": alpha_bars_prev,
            "sqrt_alpha_bars": np.sqrt(alpha_bars),
            "sqrt_one_minus_alpha_bars": np.sqrt(1.0 - alpha_bars),
            "snr": alpha_bars / (1.0 - alpha_bars),
            "posterior_variance": post_var,
            "posterior_log_variance_clipped": post_log_var,
            "posterior_mean_coef_x0": np.sqrt(alpha_bars_prev) * betas / (1.0 - alpha_bars),
            "posterior_mean_coef_xt": np.sqrt(alphas) * (1.0 - alpha_bars_prev)
            / (1.0 - alpha_bars),
        }
        for key, value in values.items():
            value.setflags(write=False)
            object.__setattr__(self, key, value)

    @property
    def T(self) -> int:  # noqa: N802 - the paper's symbol
        return int(self.betas.size)

    @property
    def snr_db(self) -> np.ndarray:
        """SNR in decibels, 10 log10(SNR_t), shape (T,)."""
        return 10.0 * np.log10(self.snr)

    def alpha_bar_at_step(self, step: int) -> float:
        """alpha_bar after ``step`` noising steps, ``step`` in 0..T (0 is the clean image)."""
        if not 0 <= step <= self.T:
            raise ValueError(f"step must be in 0..{self.T}, got {step}")
        return 1.0 if step == 0 else float(self.alpha_bars[step - 1])

    def to_dict(self) -> dict:
        """The parameters that rebuild this schedule with :func:`make_schedule`."""
        return {"name": self.name, "T": self.T}


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:  # noqa: N803
    """Ho et al.: betas linear from 1e-4 to 0.02 at T = 1000.

    For other T the end points are rescaled by 1000 / T (as in Nichol and Dhariwal's code) so that
    the total amount of noise, and so alpha_bar_T, stays nearly the same.
    """
    scale = 1000.0 / T
    return np.linspace(scale * beta_start, min(scale * beta_end, 0.999), T, dtype=np.float64)


def quadratic_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:  # noqa: N803
    """sqrt(beta) linear between the linear schedule's end points (the "scaled linear" one)."""
    scale = 1000.0 / T
    lo, hi = math.sqrt(scale * beta_start), math.sqrt(min(scale * beta_end, 0.999))
    return np.linspace(lo, hi, T, dtype=np.float64) ** 2


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:  # noqa: N803
    """Nichol and Dhariwal (2021), eq. 17: alpha_bar(t) = f(t) / f(0).

    f(t) = cos^2((t/T + s) / (1 + s) * pi/2).

    beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}, clipped to ``max_beta`` to avoid the singularity
    at t = T, exactly as in the paper.
    """
    steps = np.arange(T + 1, dtype=np.float64) / T
    f = np.cos((steps + s) / (1.0 + s) * math.pi / 2.0) ** 2
    alpha_bar = f / f[0]
    betas = 1.0 - alpha_bar[1:] / alpha_bar[:-1]
    return np.clip(betas, 0.0, max_beta)


def sigmoid_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02,  # noqa: N803
                  width: float = 6.0) -> np.ndarray:
    """Betas following a logistic curve from ``beta_start`` to ``beta_end`` (as in GeoDiff).

    beta_t = beta_start + (beta_end - beta_start) sigmoid(x_t), x_t linear in [-width, width].
    """
    scale = 1000.0 / T
    lo, hi = scale * beta_start, min(scale * beta_end, 0.999)
    x = np.linspace(-width, width, T, dtype=np.float64)
    return lo + (hi - lo) / (1.0 + np.exp(-x))


_BUILDERS = {
    "linear": linear_betas,
    "cosine": cosine_betas,
    "sigmoid": sigmoid_betas,
    "quadratic": quadratic_betas,
}


def make_schedule(name: str = "linear", T: int = 1000, **kwargs: float) -> NoiseSchedule:  # noqa: N803
    """Build a named schedule with ``T`` steps.

    Parameters
    ----------
    name : one of :data:`SCHEDULES`.
    T : number of diffusion steps, at least 2.
    **kwargs : passed to the beta builder (e.g. ``beta_start``, ``beta_end``, ``s``).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    if not isinstance(T, (int, np.integer)) or T < 2 or T > 100_000:
        raise ValueError(f"T must be an integer in 2..100000, got {T!r}")
    return NoiseSchedule(name=name, betas=_BUILDERS[name](int(T), **kwargs))
