"""Random-walk Metropolis: the sampler diffusion models set out to replace.

Notation (Metropolis et al. 1953; Roberts, Gelman and Gilks 1997; seed note 003)
-------------------------------------------------------------------------------
Target density pi(x) known up to a constant through ``log_prob``; proposal step size ``h``.

    propose     y = x + h z,                 z ~ N(0, I)           (symmetric proposal)
    accept      with probability a(x, y) = min(1, pi(y) / pi(x)),   else stay at x
    balance     pi(x) q(y | x) a(x, y) = pi(y) q(x | y) a(y, x)     (detailed balance)

For a one-dimensional standard normal target in equilibrium the mean acceptance rate is
(2 / pi) arctan(2 / h) (a standard calculation; small steps accept nearly always but move little,
large steps are nearly always refused).  Many chains run side by side: ``x`` has shape
``(C, d)`` and ``log_prob`` maps ``(C, d) -> (C,)``.  Compare with :mod:`diffview.core.sde`:
MCMC walks one long correlated path per chain, whereas a diffusion model moves every point of an
independent prior sample to the target in a fixed number of steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

LogProb = Callable[[np.ndarray], np.ndarray]
"""``log_prob(x (C, d)) -> (C,)``, the log target density up to a constant."""


@dataclass(frozen=True, eq=False)
class MCMCResult:
    """Output of :func:`metropolis`.

    chain : (n_steps + 1, *x0.shape) states; row 0 is x0.
    accept_rate : fraction of accepted proposals over all chains and steps.
    accept_rates : (C,) per-chain fractions ((1,) for a single chain).
    """

    chain: np.ndarray
    accept_rate: float
    accept_rates: np.ndarray


def _setup(log_prob: LogProb, x0, n_steps: int, step_size: float):
    if int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps}")
    step_size = float(step_size)
    if not (step_size > 0 and math.isfinite(step_size)):
        raise ValueError(f"step_size must be a finite number > 0, got {step_size}")
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.ndim not in (1, 2) or x0.size == 0:
        raise ValueError(f"x0 must have shape (d,) or (C, d), got {x0.shape}")
    x = np.atleast_2d(x0).copy()
    lp = np.asarray(log_prob(x), dtype=np.float64).reshape(-1)
    if lp.shape != (x.shape[0],):
        raise ValueError(f"log_prob must map (C, d) to (C,), got shape {lp.shape}")
    return int(n_steps), step_size, x0, x, lp


def metropolis_iter(log_prob: LogProb, x0, n_steps: int, step_size: float,
                    rng: np.random.Generator) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Random-walk Metropolis one step at a time, for animation.

    Yields
    ------
    (step, x, accepted): the step number 1..n_steps, the states (C, d) after it (a new array)
    and which chains moved (C,) bool.  ``x0`` of shape (d,) runs one chain, reported as (1, d).
    """
    n_steps, h, _, x, lp = _setup(log_prob, x0, n_steps, step_size)
    for k in range(n_steps):
        y = x + h * rng.standard_normal(x.shape)
        lp_y = np.asarray(log_prob(y), dtype=np.float64).reshape(-1)
        # log u < log pi(y) - log pi(x): a NaN ratio (-inf at both) rejects, -inf at x accepts
        with np.errstate(invalid="ignore"):
            log_ratio = lp_y - lp
        accepted = np.log(rng.random(x.shape[0])) < np.nan_to_num(log_ratio, nan=-np.inf)
        x = np.where(accepted[:, None], y, x)
        lp = np.where(accepted, lp_y, lp)
        yield k + 1, x, accepted


def metropolis(log_prob: LogProb, x0, n_steps: int, step_size: float,
               rng: np.random.Generator) -> MCMCResult:
    """Run random-walk Metropolis chains with N(0, step_size^2 I) proposals.

    Parameters
    ----------
    log_prob : ``(C, d) -> (C,)`` log target density (unnormalised is fine), vectorised.
    x0 : (d,) for one chain or (C, d) for C chains side by side.
    n_steps : number of proposals per chain.
    step_size : proposal standard deviation h > 0.
    rng : numpy Generator.

    Returns
    -------
    MCMCResult with ``chain`` of shape (n_steps + 1, *x0.shape).
    """
    n_steps, _, x0_arr, x, _ = _setup(log_prob, x0, n_steps, step_size)
    chain = np.empty((n_steps + 1, *x.shape))
    chain[0] = x
    n_acc = np.zeros(x.shape[0])
    for k, xk, accepted in metropolis_iter(log_prob, x0, n_steps, step_size, rng):
        chain[k] = xk
        n_acc += accepted
    rates = n_acc / max(n_steps, 1)
    if x0_arr.ndim == 1:
        chain = chain[:, 0, :]
    return MCMCResult(chain=chain, accept_rate=float(rates.mean()), accept_rates=rates)


def gaussian_log_prob(mean, cov) -> LogProb:
    """log N(x; mean, cov) as a vectorised ``log_prob`` for (C, d) points (a test target)."""
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    d = mean.size
    if cov.shape != (d, d):
        raise ValueError(f"cov must have shape ({d}, {d}), got {cov.shape}")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("cov must be positive definite") from None
    prec = np.linalg.inv(cov)
    const = -np.sum(np.log(np.diag(chol))) - 0.5 * d * math.log(2 * math.pi)

    def log_prob(x: np.ndarray) -> np.ndarray:
        diff = np.asarray(x, dtype=np.float64) - mean
        return const - 0.5 * np.einsum("ci,ij,cj->c", diff, prec, diff)

    return log_prob
